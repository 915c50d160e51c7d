/**
 * The Keyring against real servers on loopback: direct fetches, a notary (trusted_key_servers), caching, validity
 * limits, and the published key document checked by an independent Ed25519 implementation (tweetnacl).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import nacl from "tweetnacl";
import { request } from "undici";
import { canonicalJson, decodeBase64, type JsonObject } from "../../server/crypto";
import { KeyLookupError, MAX_KEY_VALIDITY_MS } from "../../server/keys/keyring";
import { startFederation, type TestHomeServer } from "../support/homeserver";

let origin: TestHomeServer; // the server whose keys are wanted
let notary: TestHomeServer; // a trusted key server
let asker: TestHomeServer; // trusts the notary

async function getJson(url: string): Promise<{ status: number; body: JsonObject }> {
  const res = await request(url);
  return { status: res.statusCode, body: (await res.body.json()) as JsonObject };
}

describe("keys", () => {
  before(async () => {
    [origin, notary, asker] = (await startFederation([
      { server_name: "origin.test", key_refresh_interval: "2d" },
      { server_name: "notary.test" },
      { server_name: "asker.test", trusted_key_servers: [{ server_name: "notary.test" }] },
    ])) as [TestHomeServer, TestHomeServer, TestHomeServer];
  });
  after(() => Promise.all([origin.stop(), notary.stop(), asker.stop()]));

  it("serves a self-signed key document that an independent Ed25519 implementation verifies", async () => {
    for (const path of ["/_matrix/key/v2/server", `/_matrix/key/v2/server/${origin.hs.ownKeys.signingKey.keyId}`]) {
      const { status, body } = await getJson(origin.baseUrl + path);
      assert.equal(status, 200);
      assert.equal(body.server_name, "origin.test");
      const keyId = origin.hs.ownKeys.signingKey.keyId;
      const publicKey = decodeBase64(((body.verify_keys as JsonObject)[keyId] as JsonObject).key as string);
      const signature = decodeBase64((body.signatures as Record<string, Record<string, string>>)["origin.test"]![keyId]!);
      const { signatures: _s, ...signed } = body;
      assert.ok(nacl.sign.detached.verify(Buffer.from(canonicalJson(signed)), signature, publicKey), "tweetnacl verifies the self-signature");
      const validFor = (body.valid_until_ts as number) - Date.now();
      assert.ok(validFor > 2 * 86_400_000 - 60_000 && validFor <= 2 * 86_400_000, "valid_until_ts = now + key_refresh_interval");
      assert.deepEqual(body.old_verify_keys, {});
    }
  });

  it("fetches a server's keys directly, verifies and caches them", async () => {
    const keyId = origin.hs.ownKeys.signingKey.keyId;
    const key = await notary.hs.keyring.getVerifyKey("origin.test", keyId);
    assert.ok(key.validUntilTs <= Date.now() + MAX_KEY_VALIDITY_MS, "validity capped at 7 days after fetching");
    const cached = await notary.hs.keyring.cachedKeys("origin.test");
    assert.deepEqual(cached.map((k) => [k.keyId, k.fromServer, k.verifyKey]), [[keyId, "origin.test", origin.hs.ownKeys.signingKey.publicKeyBase64]]);
  });

  it("answers notary queries re-signed by itself, and serves cached keys once the origin is down", async () => {
    const { body } = await getJson(`${notary.baseUrl}/_matrix/key/v2/query/origin.test`);
    const entries = body.server_keys as JsonObject[];
    assert.equal(entries.length, 1);
    const sigs = entries[0]!.signatures as Record<string, Record<string, string>>;
    assert.deepEqual(Object.keys(sigs).sort(), ["notary.test", "origin.test"]);

    const res = await request(`${notary.baseUrl}/_matrix/key/v2/query`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ server_keys: { "origin.test": { [origin.hs.ownKeys.signingKey.keyId]: { minimum_valid_until_ts: Date.now() } }, "notary.test": {} } }),
    });
    const posted = (await res.body.json()) as { server_keys: JsonObject[] };
    assert.deepEqual(posted.server_keys.map((k) => k.server_name).sort(), ["notary.test", "origin.test"]);
  });

  it("goes through a trusted notary when the origin cannot be reached", async () => {
    const keyId = origin.hs.ownKeys.signingKey.keyId;
    const publicKey = origin.hs.ownKeys.signingKey.publicKeyBase64;
    await origin.stop();
    const key = await asker.hs.keyring.getVerifyKey("origin.test", keyId);
    assert.ok(key.validUntilTs > Date.now());
    const cached = await asker.hs.keyring.cachedKeys("origin.test");
    assert.deepEqual(cached.map((k) => [k.keyId, k.fromServer, k.verifyKey]), [[keyId, "notary.test", publicKey]]);
  });

  it("refuses keys it cannot find, or not valid at the time asked, with the reason", async () => {
    await assert.rejects(asker.hs.keyring.getVerifyKey("nowhere.test", "ed25519:x"), (e: unknown) =>
      e instanceof KeyLookupError && /no key ed25519:x for nowhere\.test/.test(e.message) && /last fetch failed/.test(e.message));
    const keyId = (await asker.hs.keyring.cachedKeys("origin.test"))[0]!.keyId;
    await assert.rejects(asker.hs.keyring.getVerifyKey("origin.test", keyId, Date.now() + 30 * 86_400_000), (e: unknown) =>
      e instanceof KeyLookupError && /is valid until/.test(e.message));
  });

  it("refuses malformed notary queries with a Matrix error", async () => {
    const res = await request(`${notary.baseUrl}/_matrix/key/v2/query`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"server_keys": 5}' });
    assert.equal(res.statusCode, 400);
    assert.equal(((await res.body.json()) as JsonObject).errcode, "M_BAD_JSON");
    const bad = await request(`${notary.baseUrl}/_matrix/key/v2/query/origin.test?minimum_valid_until_ts=soon`);
    assert.equal(bad.statusCode, 400);
    await bad.body.dump();
  });
});
