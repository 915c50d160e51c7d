import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { generateSigningKey, signingKeyFromSeed, decodeBase64 } from "../../server/crypto";
import {
  buildXMatrixAuthorization,
  parseXMatrixHeader,
  verifyXMatrixRequest,
  XMatrixParseError,
  type XMatrixErrorReason,
} from "../../server/federation/transport/x-matrix";

const key = signingKeyFromSeed(decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"), "1");

function rejects(header: string, reason: XMatrixErrorReason) {
  assert.throws(
    () => parseXMatrixHeader(header),
    (e: unknown) => e instanceof XMatrixParseError && e.reason === reason,
    `expected ${reason} for ${header}`,
  );
}

describe("X-Matrix header", () => {
  it("builds the spec's form and verifies after a round trip through the parser", () => {
    const request = {
      method: "PUT",
      uri: "/_matrix/federation/v1/send/txn1?a=b%20c",
      origin: "origin.example",
      destination: "dest.example:8448",
      content: { pdus: [], edus: [{ edu_type: "m.typing", content: { typing: true } }] },
    };
    const header = buildXMatrixAuthorization(request, key);
    assert.match(header, /^X-Matrix origin="origin\.example",destination="dest\.example:8448",key="ed25519:1",sig="[A-Za-z0-9+/]+"$/);

    const parsed = parseXMatrixHeader(header);
    assert.deepEqual({ origin: parsed.origin, destination: parsed.destination, key: parsed.key }, {
      origin: "origin.example",
      destination: "dest.example:8448",
      key: "ed25519:1",
    });
    assert.deepEqual(verifyXMatrixRequest({ ...request, key: parsed.key, sig: parsed.sig }, key.publicKey), { ok: true });
  });

  it("fails verification when anything signed changes, or with another key", () => {
    const request = { method: "GET", uri: "/_matrix/federation/v1/version", origin: "o.example", destination: "d.example" };
    const { key: keyId, sig } = parseXMatrixHeader(buildXMatrixAuthorization(request, key));
    assert.equal(verifyXMatrixRequest({ ...request, key: keyId, sig }, key.publicKey).ok, true);
    assert.equal(verifyXMatrixRequest({ ...request, uri: "/_matrix/federation/v1/version?x=1", key: keyId, sig }, key.publicKey).ok, false);
    assert.equal(verifyXMatrixRequest({ ...request, method: "POST", key: keyId, sig }, key.publicKey).ok, false);
    assert.equal(verifyXMatrixRequest({ ...request, destination: "evil.example", key: keyId, sig }, key.publicKey).ok, false);
    assert.equal(verifyXMatrixRequest({ ...request, content: {}, key: keyId, sig }, key.publicKey).ok, false);
    assert.equal(verifyXMatrixRequest({ ...request, key: keyId, sig }, generateSigningKey().publicKey).ok, false);
  });

  it("parses bare tokens, colons in bare values, escapes, any case and extra whitespace", () => {
    assert.deepEqual(parseXMatrixHeader('x-matrix  ORIGIN=origin.example:8448 , Destination = "d.example" ,key=ed25519:abc,SIG="s\\"ig\\\\"'), {
      origin: "origin.example:8448",
      destination: "d.example",
      key: "ed25519:abc",
      sig: 's"ig\\',
    });
    assert.equal(parseXMatrixHeader('X-MATRIX\torigin="o\\.example",key="ed25519:k",sig="abc+/"').origin, "o.example");
  });

  it("ignores unknown parameters and accepts a missing destination", () => {
    const parsed = parseXMatrixHeader('X-Matrix origin="o",future="x, y",key="ed25519:k",sig="s",other=token');
    assert.deepEqual(parsed, { origin: "o", destination: undefined, key: "ed25519:k", sig: "s" });
  });

  it("rejects duplicates, missing parameters, other schemes and broken syntax", () => {
    rejects('X-Matrix origin="a",ORIGIN="b",key="ed25519:k",sig="s"', "duplicate_param");
    rejects('X-Matrix origin="a",destination="d",Destination="d",key="ed25519:k",sig="s"', "duplicate_param");
    rejects('X-Matrix key="ed25519:k",sig="s"', "missing_param");
    rejects('X-Matrix origin="a",sig="s"', "missing_param");
    rejects('X-Matrix origin="a",key="ed25519:k"', "missing_param");
    rejects("X-Matrix", "missing_param");
    rejects('Bearer origin="a",key="ed25519:k",sig="s"', "not_x_matrix");
    rejects('X-Matrixorigin="a",key="ed25519:k",sig="s"', "not_x_matrix");
    rejects('X-Matrix origin="a,key="ed25519:k",sig="s"', "malformed");
    rejects('X-Matrix origin="a" key="ed25519:k",sig="s"', "malformed");
    rejects('X-Matrix origin=a/b,key="ed25519:k",sig="s"', "malformed");
    rejects('X-Matrix origin=,key="ed25519:k",sig="s"', "malformed");
    rejects('X-Matrix origin="",key="ed25519:k",sig="s"', "malformed");
    rejects('X-Matrix origin="a\u0001",key="ed25519:k",sig="s"', "malformed");
  });
});
