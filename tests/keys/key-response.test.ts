import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { generateSigningKey, signJson, type JsonObject } from "../../server/crypto";
import { KeyResponseError, verifyKeyResponse } from "../../server/keys/key-response";

const key = generateSigningKey("a");
const doc = (over: JsonObject = {}): JsonObject => ({
  server_name: "s.test", valid_until_ts: 5000, verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } },
  old_verify_keys: { "ed25519:old": { key: "AAAA", expired_ts: 1000 } }, ...over,
});

describe("verifyKeyResponse", () => {
  it("turns a self-signed response into rows, old keys valid until they expired", () => {
    const rows = verifyKeyResponse(signJson(doc(), "s.test", key), "s.test", "notary.test", 42);
    assert.deepEqual(rows.map((r) => [r.keyId, r.validUntilTs, r.fromServer, r.fetchedTs]), [[key.keyId, 5000, "notary.test", 42], ["ed25519:old", 1000, "notary.test", 42]]);
  });

  it("refuses responses for another server, unsigned, signed by an unlisted key, or tampered", () => {
    const other = generateSigningKey("b");
    const cases: Array<[unknown, RegExp]> = [
      [signJson(doc({ server_name: "evil.test" }), "evil.test", key), /names evil\.test, expected s\.test/],
      [doc(), /malformed|not signed/],
      [signJson(doc(), "s.test", other), /not signed by s\.test with any key it lists/],
      [{ ...signJson(doc(), "s.test", key), valid_until_ts: 9_999_999 }, /bad signature/],
      [signJson(doc({ verify_keys: { [key.keyId]: { key: "not base64!" } } }), "s.test", key), /malformed/],
    ];
    for (const [response, pattern] of cases) {
      assert.throws(() => verifyKeyResponse(response, "s.test", "s.test", 0), (e: unknown) => e instanceof KeyResponseError && pattern.test(e.message), String(pattern));
    }
  });
});
