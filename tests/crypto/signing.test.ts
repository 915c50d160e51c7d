import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  decodeBase64,
  publicKeyFromBase64,
  signatureKeyIds,
  signedBytes,
  signingKeyFromSeed,
  signJson,
  verifyJsonSignature,
  type JsonObject,
  type Signatures,
} from "../../server/crypto";

const key = signingKeyFromSeed(decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"), "1");
const publicKey = publicKeyFromBase64(key.publicKeyBase64);

describe("signing JSON: spec appendix vectors", () => {
  test("signs {}", () => {
    assert.deepEqual(signJson({}, "domain", key), {
      signatures: {
        domain: { "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ" },
      },
    });
  });

  test('signs {"one":1,"two":"Two"}', () => {
    assert.deepEqual(signJson({ one: 1, two: "Two" }, "domain", key), {
      one: 1,
      signatures: {
        domain: { "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw" },
      },
      two: "Two",
    });
  });
});

describe("signing JSON", () => {
  test("does not cover unsigned or signatures, and keeps other signatures", () => {
    const other = signingKeyFromSeed(Buffer.alloc(32, 7), "other");
    const once = signJson<JsonObject>({ a: 1, unsigned: { age: 5 } }, "domain", key);
    const twice = signJson<JsonObject>({ ...once, unsigned: { age: 99 } }, "elsewhere", other);
    const signatures = twice.signatures as Signatures;
    assert.equal(signatures.domain!["ed25519:1"], (once.signatures as Signatures).domain!["ed25519:1"]);
    assert.deepEqual(Object.keys(signatures), ["domain", "elsewhere"]);
    assert.deepEqual(verifyJsonSignature(twice, "domain", "ed25519:1", publicKey), { ok: true });
    assert.deepEqual(verifyJsonSignature(twice, "elsewhere", "ed25519:other", publicKeyFromBase64(other.publicKeyBase64)), { ok: true });
    assert.deepEqual(signedBytes(twice).toString(), '{"a":1}');
  });

  test("returns a copy, leaving the input alone", () => {
    const input = { a: 1 };
    signJson(input, "domain", key);
    assert.deepEqual(input, { a: 1 });
  });

  test("adds a second key of the same server beside the first", () => {
    const second = signingKeyFromSeed(Buffer.alloc(32, 1), "2");
    const signed = signJson(signJson({ a: 1 }, "domain", key), "domain", second);
    assert.deepEqual(signatureKeyIds(signed, "domain"), ["ed25519:1", "ed25519:2"]);
  });
});

describe("verifying JSON signatures", () => {
  const signed = signJson({ one: 1, two: "Two" }, "domain", key);

  test("accepts the signature and reports why others fail", () => {
    assert.deepEqual(verifyJsonSignature(signed, "domain", "ed25519:1", publicKey), { ok: true });
    assert.deepEqual(verifyJsonSignature({ ...signed, one: 2 }, "domain", "ed25519:1", publicKey), {
      ok: false,
      reason: "bad signature from domain with key ed25519:1",
    });
    assert.deepEqual(verifyJsonSignature({ one: 1 }, "domain", "ed25519:1", publicKey), { ok: false, reason: "no signatures" });
    assert.deepEqual(verifyJsonSignature(signed, "other", "ed25519:1", publicKey), { ok: false, reason: "not signed by other" });
    assert.deepEqual(verifyJsonSignature(signed, "domain", "ed25519:2", publicKey), {
      ok: false,
      reason: "no signature from domain with key ed25519:2",
    });
  });

  test("reports a value canonical JSON cannot encode instead of throwing", () => {
    const result = verifyJsonSignature({ ...signed, x: 1.5 }, "domain", "ed25519:1", publicKey);
    assert.equal(result.ok, false);
    assert.match((result as { reason: string }).reason, /floats are not allowed/);
  });

  test("signatureKeyIds lists only ed25519 keys of that server", () => {
    const mixed = { signatures: { domain: { "ed25519:1": "x", "curve25519:9": "y" }, other: { "ed25519:2": "z" } } };
    assert.deepEqual(signatureKeyIds(mixed, "domain"), ["ed25519:1"]);
    assert.deepEqual(signatureKeyIds(mixed, "nobody"), []);
  });
});
