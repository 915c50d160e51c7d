/**
 * Two Switchyard instances on loopback exchange signed transactions; hostile requests get the right Matrix
 * errors and change nothing stored.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Pool, request } from "undici";
import { canonicalJson, signingKeyFromSeed, type JsonObject } from "../../server/crypto";
import { computeEventId, getRoomVersion, signEvent } from "../../server/events";
import { createCaller } from "../../server/api/root";
import { buildXMatrixAuthorization } from "../../server/federation/transport/x-matrix";
import { startFederation, type TestHomeServer } from "../support/homeserver";

let a: TestHomeServer;
let b: TestHomeServer;
let txnCounter = 0;

/** A raw request to A, signed (or not) by B's key, so each field can be broken on purpose. */
async function send(opts: {
  method?: string; path?: string; body?: string | Buffer; json?: unknown; sign?: boolean; signedPath?: string;
  signedBody?: unknown; destination?: string; keyId?: string; seed?: Buffer; authorization?: string;
}) {
  const method = opts.method ?? "PUT";
  const path = opts.path ?? `/_matrix/federation/v1/send/hostile${++txnCounter}`;
  const body = opts.body ?? (opts.json === undefined ? undefined : JSON.stringify(opts.json));
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  else if (opts.sign !== false) {
    const key = opts.seed ? signingKeyFromSeed(opts.seed, "forged") : b.hs.ownKeys.signingKey;
    const signingKey = opts.keyId ? { ...key, keyId: opts.keyId } : key;
    headers.authorization = buildXMatrixAuthorization({
      method, uri: opts.signedPath ?? path, origin: b.serverName, destination: opts.destination ?? a.serverName,
      content: (opts.signedBody ?? opts.json) as JsonObject | undefined,
    }, signingKey);
  }
  const res = await request(`${a.baseUrl}${path}`, { method: method as "PUT", headers, body });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

const txn = (over: Record<string, unknown> = {}) => ({ origin: "b.test", origin_server_ts: Date.now(), pdus: [], edus: [], ...over });

describe("inbound federation between two instances", () => {
  before(async () => {
    [a, b] = (await startFederation([{ server_name: "a.test" }, { server_name: "b.test" }])) as [TestHomeServer, TestHomeServer];
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it("exchanges signed transactions carrying EDUs in both directions", async () => {
    const presence = { edu_type: "m.presence", content: { push: [{ user_id: "@bob:b.test", presence: "online", last_active_ago: 10 }] } };
    const typing = { edu_type: "m.typing", content: { room_id: "!room:a.test", user_id: "@bob:b.test", typing: true } };
    const res = await b.hs.transportClient.sendTransaction("a.test", "t1", { origin: "b.test", origin_server_ts: Date.now(), pdus: [], edus: [presence, typing] });
    assert.deepEqual(res, { pdus: {} });
    await a.hs.transactions.flush();
    assert.equal((await a.hs.stores.presence.get("@bob:b.test"))?.state, "online");
    assert.deepEqual(a.hs.typing.typingUsers("!room:a.test"), ["@bob:b.test"]);
    // A fetched B's key over HTTP to check the request, and cached it.
    const keys = await a.hs.keyring.cachedKeys("b.test");
    assert.deepEqual(keys.map((k) => k.keyId), [b.hs.ownKeys.signingKey.keyId]);

    const receipt = { edu_type: "m.receipt", content: { "!room:b.test": { "m.read": { "@alice:a.test": { event_ids: ["$e"], data: { ts: 1 } } } } } };
    assert.deepEqual(await a.hs.transportClient.sendTransaction("b.test", "t1", { origin: "a.test", origin_server_ts: Date.now(), pdus: [], edus: [receipt] }), { pdus: {} });
    assert.deepEqual((await b.hs.stores.receipts.forRoom("!room:b.test")).map((r) => r.userId), ["@alice:a.test"]);

    const log = await a.hs.stores.inbound.recentEdus("b.test", 10);
    assert.deepEqual(log.map((e) => [e.eduType, e.outcome]).sort(), [["m.presence", "ok"], ["m.typing", "ok"]]);
    // The console sees the transaction and its EDUs through federation.inbound.
    const inbound = await createCaller({ hs: a.hs, authenticated: true }).federation.inbound({ origin: "b.test" });
    assert.deepEqual(inbound.transactions.map((t) => [t.transaction_id, t.pdu_count, t.edu_count, t.response_code, t.pdu_errors]), [["t1", 0, 2, 200, 0]]);
    assert.deepEqual(inbound.edus.map((e) => [e.edu_type, e.outcome]).sort(), [["m.presence", "ok"], ["m.typing", "ok"]]);
    await assert.rejects(createCaller({ hs: a.hs, authenticated: false }).federation.inbound({}), /UNAUTHORIZED|sign in/i);
  });

  it("answers a replayed txnId with the stored response without processing it again", async () => {
    const edu = { edu_type: "m.direct_to_device", content: { sender: "@bob:b.test", type: "m.test", message_id: "dm1", messages: { "@alice:a.test": { DEV: { n: 1 } } } } };
    const first = await send({ path: "/_matrix/federation/v1/send/replay1", json: txn({ edus: [edu] }) });
    await a.hs.transactions.flush();
    const eduCount = (await a.hs.stores.inbound.recentEdus("b.test", 100)).length;
    const again = await send({ path: "/_matrix/federation/v1/send/replay1", json: txn({ edus: [edu, edu] }) });
    await a.hs.transactions.flush();
    assert.equal(first.status, 200);
    assert.deepEqual(again, first);
    assert.equal((await a.hs.stores.inbound.recentEdus("b.test", 100)).length, eduCount, "the replay was not processed");
    assert.equal((await a.hs.stores.deviceInbox.messagesFor("@alice:a.test", "DEV")).length, 1);
  });

  it("checks, stages or refuses each PDU of a known room", async () => {
    const version = getRoomVersion("10");
    await a.hs.stores.rooms.storeRoom("!known:b.test", "10", Date.now());
    const base = { room_id: "!known:b.test", sender: "@bob:b.test", type: "m.room.message", content: { body: "hi" }, depth: 5, prev_events: [], auth_events: [], origin_server_ts: Date.now() };
    const good = signEvent(base, version, "b.test", b.hs.ownKeys.signingKey);
    const tampered = { ...signEvent({ ...base, content: { body: "original" } }, version, "b.test", b.hs.ownKeys.signingKey), content: { body: "changed" } };
    const forged = signEvent({ ...base, content: { body: "forged" } }, version, "b.test", { ...signingKeyFromSeed(Buffer.alloc(32, 7), "x"), keyId: b.hs.ownKeys.signingKey.keyId });
    const unknownRoom = signEvent({ ...base, room_id: "!unknown:b.test" }, version, "b.test", b.hs.ownKeys.signingKey);
    const res = await send({ json: txn({ pdus: [good, tampered, forged, unknownRoom] }) });
    assert.equal(res.status, 200);
    const pdus = res.json!.pdus as Record<string, { error?: string }>;
    assert.deepEqual(pdus[computeEventId(good, version)], {});
    assert.deepEqual(pdus[computeEventId(tampered, version)], {}, "a content hash mismatch is accepted in redacted form");
    assert.match(pdus[computeEventId(forged, version)]?.error ?? "", /Signature check failed/);
    assert.equal(Object.keys(pdus).length, 3, "PDUs for unknown rooms are ignored");
    // The room's staging worker takes both; this server holds no state of the room, so the auth rules reject them.
    await a.hs.rooms.stagingWorkers.idle();
    assert.deepEqual(await a.hs.stores.staging.next("!known:b.test", 10), [], "staging is drained once events are persisted");
    const kept = await a.hs.stores.events.getEvents([computeEventId(good, version), computeEventId(tampered, version), computeEventId(forged, version)]);
    assert.deepEqual([...kept.values()].map((e) => [e.eventId, e.rejectedReason !== null]), [[computeEventId(good, version), true], [computeEventId(tampered, version), true]]);
    assert.deepEqual(kept.get(computeEventId(tampered, version))?.pdu.content, {}, "the redacted form was kept");
  });

  it("refuses hostile requests with the right status and errcode, and keeps serving", async () => {
    await a.hs.transactions.flush();
    const before = (await a.hs.stores.inbound.recentTransactions(undefined, 1000)).length;
    const cases: Array<[string, Parameters<typeof send>[0], number, string]> = [
      ["missing header", { json: txn(), sign: false }, 401, "M_UNAUTHORIZED"],
      ["not X-Matrix", { json: txn(), authorization: "Bearer abc" }, 401, "M_UNAUTHORIZED"],
      ["duplicated parameter", { json: txn(), authorization: 'X-Matrix origin="b.test",origin="c.test",key="ed25519:a",sig="x"' }, 401, "M_UNAUTHORIZED"],
      ["bad signature", { json: txn(), seed: Buffer.alloc(32, 1), keyId: "" }, 401, "M_UNAUTHORIZED"],
      ["unknown key", { json: txn(), keyId: "ed25519:nosuchkey" }, 401, "M_UNAUTHORIZED"],
      ["wrong destination", { json: txn(), destination: "c.test" }, 401, "M_UNAUTHORIZED"],
      ["tampered body", { json: txn({ edus: [{ edu_type: "m.typing", content: {} }] }), signedBody: txn() }, 401, "M_UNAUTHORIZED"],
      ["URI not the one signed", { json: txn(), signedPath: "/_matrix/federation/v1/send/other" }, 401, "M_UNAUTHORIZED"],
      ["malformed JSON", { body: '{"pdus": [', signedBody: undefined }, 400, "M_NOT_JSON"],
      ["invalid UTF-8", { body: Buffer.from([0x7b, 0xff, 0x7d]) }, 400, "M_NOT_JSON"],
      ["float in body", { body: '{"origin_server_ts": 1.5, "pdus": []}' }, 400, "M_BAD_JSON"],
      ["oversized body", { body: Buffer.alloc(200 * 65536 + 1, 0x20), sign: false }, 413, "M_TOO_LARGE"],
      ["51 PDUs", { json: txn({ pdus: Array.from({ length: 51 }, () => ({})) }) }, 400, "M_BAD_JSON"],
      ["101 EDUs", { json: txn({ edus: Array.from({ length: 101 }, () => ({ edu_type: "m.x", content: {} })) }) }, 400, "M_BAD_JSON"],
      ["transaction without pdus", { json: { origin_server_ts: 1 } }, 400, "M_BAD_JSON"],
      ["unknown endpoint", { path: "/_matrix/federation/v1/nonsense", method: "GET" }, 404, "M_UNRECOGNIZED"],
      ["wrong method", { path: "/_matrix/federation/v1/send/x", method: "POST", json: txn() }, 405, "M_UNRECOGNIZED"],
    ];
    for (const [name, opts, status, errcode] of cases) {
      if (name === "bad signature") opts.keyId = b.hs.ownKeys.signingKey.keyId;
      const res = await send(opts);
      assert.equal(res.status, status, `${name}: status ${res.status} ${JSON.stringify(res.json)}`);
      assert.equal(res.json?.errcode, errcode, `${name}: errcode`);
      assert.equal(typeof res.json?.error, "string", `${name}: error message`);
    }
    await a.hs.transactions.flush();
    assert.equal((await a.hs.stores.inbound.recentTransactions(undefined, 1000)).length, before, "nothing was recorded");
    const version = await request(`${a.baseUrl}/_matrix/federation/v1/version`);
    assert.equal(version.statusCode, 200);
    assert.deepEqual((await version.body.json() as { server: { name: string } }).server.name, "Switchyard");
  });

  it("a verified request from a backing-off server ends its backoff", async () => {
    // Another process recorded the failure: this one notices within a second.
    await a.hs.stores.destinations.setRetryTimings("b.test", { retryLastTs: Date.now(), retryInterval: 3_600_000, failureTs: Date.now() - 1000 });
    await new Promise((r) => setTimeout(r, 1000));
    const res = await send({ json: txn() });
    assert.equal(res.status, 200);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await a.hs.stores.destinations.getRetryTimings("b.test"), { retryLastTs: 0, retryInterval: 0, failureTs: null });
  });

  it("serves many concurrent keep-alive connections", async () => {
    const pool = new Pool(a.baseUrl, { connections: 200, pipelining: 1 });
    try {
      const responses = await Promise.all(Array.from({ length: 1000 }, async () => {
        const res = await pool.request({ path: "/_matrix/key/v2/server", method: "GET" });
        await res.body.dump();
        return res.statusCode;
      }));
      assert.ok(responses.every((s) => s === 200));
    } finally {
      await pool.close();
    }
  });

  it("serves a self-signed key document and notarises other servers' keys", async () => {
    const res = await request(`${a.baseUrl}/_matrix/key/v2/query/b.test`);
    const body = await res.body.json() as { server_keys: JsonObject[] };
    assert.equal(res.statusCode, 200);
    assert.equal(body.server_keys.length, 1);
    const entry = body.server_keys[0]!;
    assert.equal(entry.server_name, "b.test");
    const sigs = entry.signatures as Record<string, Record<string, string>>;
    assert.ok(sigs["b.test"]?.[b.hs.ownKeys.signingKey.keyId], "the origin's signature is kept");
    assert.ok(sigs["a.test"]?.[a.hs.ownKeys.signingKey.keyId], "the notary signed it");
    assert.ok(canonicalJson(entry).length > 0);
  });
});
