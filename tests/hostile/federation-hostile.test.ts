/**
 * Hostile-input suite: over 10,000 generated bad requests against the inbound federation API. Every answer must be a
 * 4xx Matrix error (never a 5xx, never a hang), the server must keep serving, and nothing stored may change.
 * Generation is seeded, so a failure names a reproducible case.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { Pool } from "undici";
import { signingKeyFromSeed, type JsonObject } from "../../server/crypto";
import { getRoomVersion, signEvent } from "../../server/events";
import { buildXMatrixAuthorization } from "../../server/federation/transport/x-matrix";
import { startFederation, type TestHomeServer } from "../support/homeserver";

let target: TestHomeServer;
let peer: TestHomeServer;

/** mulberry32: small, seeded, good enough to vary inputs reproducibly. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

const SEND = "/_matrix/federation/v1/send/";

function sign(method: string, uri: string, content: unknown, over: { destination?: string; origin?: string; seed?: number } = {}): string {
  const key = over.seed === undefined ? peer.hs.ownKeys.signingKey : { ...signingKeyFromSeed(Buffer.alloc(32, over.seed), "x"), keyId: peer.hs.ownKeys.signingKey.keyId };
  return buildXMatrixAuthorization({ method, uri, origin: over.origin ?? peer.serverName, destination: over.destination ?? target.serverName, content: content as JsonObject }, key);
}

function generateCases(count: number, random: () => number): Case[] {
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const json = { "content-type": "application/json" };
  const txn = () => ({ origin: peer.serverName, origin_server_ts: 1, pdus: [], edus: [] });
  const version = getRoomVersion("10");
  const generators: Array<(i: number) => Case> = [
    // Malformed JSON: truncations and random bytes, properly signed headers cannot exist for them.
    (i) => ({ name: "truncated JSON", method: "PUT", path: SEND + `t${i}`, headers: { ...json, authorization: sign("PUT", SEND + `t${i}`, undefined) }, body: JSON.stringify(txn()).slice(0, Math.floor(random() * 40)) + (random() < 0.5 ? "" : "{") }),
    (i) => ({ name: "random bytes", method: "PUT", path: SEND + `r${i}`, headers: { ...json, authorization: sign("PUT", SEND + `r${i}`, undefined) }, body: Buffer.from(Array.from({ length: 1 + Math.floor(random() * 64) }, () => Math.floor(random() * 256))) }),
    // Deeply nested JSON.
    (i) => { const depth = 1000 + Math.floor(random() * 50_000); return { name: "deep nesting", method: "PUT", path: SEND + `d${i}`, headers: { ...json, authorization: sign("PUT", SEND + `d${i}`, undefined) }, body: "[".repeat(depth) + "]".repeat(depth) }; },
    // Huge numbers and floats, signed over what the sender claims.
    (i) => { const body = `{"origin_server_ts": ${pick(["1e400", "9007199254740993", "-9007199254740993", "1.5", "0.1", "12345678901234567890"])}, "pdus": []}`; return { name: "bad numbers", method: "PUT", path: SEND + `n${i}`, headers: { ...json, authorization: sign("PUT", SEND + `n${i}`, undefined) }, body }; },
    // Invalid UTF-8 inside a JSON string.
    (i) => ({ name: "invalid UTF-8", method: "PUT", path: SEND + `u${i}`, headers: { ...json, authorization: sign("PUT", SEND + `u${i}`, undefined) }, body: Buffer.concat([Buffer.from('{"pdus":["'), Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xf0, 0x28, 0x8c]), Buffer.from('"]}')]) }),
    // Bad, duplicated and missing X-Matrix parameters.
    (i) => ({ name: "bad X-Matrix", method: "PUT", path: SEND + `x${i}`, headers: { ...json, authorization: pick([
      "", "X-Matrix", "X-Matrix ", 'X-Matrix origin="a"', 'X-Matrix origin="peer.test",origin="peer.test",key="ed25519:a",sig="a"',
      'X-Matrix origin=,key=,sig=', 'X-Matrix origin="p\\', "Basic dXNlcjpwYXNz", 'X-Matrix origin="peer.test",key="ed25519:a",sig="' + "A".repeat(5000) + '"',
      'X-Matrix origin="../../etc",key="ed25519:a",sig="a"', 'X-Matrix origin="peer.test",key="rsa:1",sig="@@@"', 'x-matrix ORIGIN=peer.test,KEY=ed25519:zz,SIG=abc',
    ]) }, body: JSON.stringify(txn()) }),
    // Forged signatures (another key claiming the peer's key id) and wrong destinations.
    (i) => { const body = txn(); return { name: "forged signature", method: "PUT", path: SEND + `f${i}`, headers: { ...json, authorization: sign("PUT", SEND + `f${i}`, body, { seed: 1 + (i % 200) }) }, body: JSON.stringify(body) }; },
    (i) => { const body = txn(); return { name: "wrong destination", method: "PUT", path: SEND + `w${i}`, headers: { ...json, authorization: sign("PUT", SEND + `w${i}`, body, { destination: pick(["other.test", "", "peer.test", "TARGET.TEST"]) }) }, body: JSON.stringify(body) }; },
    (i) => { const body = txn(); return { name: "unknown origin", method: "PUT", path: SEND + `o${i}`, headers: { ...json, authorization: sign("PUT", SEND + `o${i}`, body, { origin: pick(["nowhere.invalid", "target.test", "a b", "x:99999999"]) }) }, body: JSON.stringify(body) }; },
    // Transactions over the limits, and structurally wrong ones, properly signed.
    (i) => { const body = pick<unknown>([
      { ...txn(), pdus: Array.from({ length: 51 }, () => ({})) }, { ...txn(), edus: Array.from({ length: 101 }, () => ({ edu_type: "m.x", content: {} })) },
      { origin_server_ts: "now", pdus: [] }, { pdus: "none" }, [], "txn", null, { ...txn(), edus: "x" },
    ]); return { name: "bad transaction", method: "PUT", path: SEND + `b${i}`, headers: { ...json, authorization: sign("PUT", SEND + `b${i}`, body) }, body: JSON.stringify(body) }; },
    // Path traversal and odd IDs.
    (i) => { const id = pick(["..%2F..%2Fetc%2Fpasswd", "%00", "a%2Fb", "%E0%A4%A", "x".repeat(300), "%", "..", "a%20b"]); const path = SEND + id; const body = txn(); return { name: `path ${id.slice(0, 20)}`, method: "PUT", path, headers: { ...json, authorization: sign("PUT", path, body) }, body: JSON.stringify(body) }; },
    // Unknown endpoints and methods.
    () => ({ name: "unknown endpoint", method: pick(["GET", "POST", "DELETE", "PATCH"]), path: pick(["/_matrix/federation/v9/send/x", "/_matrix/federation/", "/_matrix/key/v2/nothing", "/_matrix/", "/_matrix/federation/v1/send/", "/_matrix/key/v2/server/a/b/c"]), headers: {} }),
    // Events with bad hashes or unknown rooms inside an otherwise valid transaction must not fail the transaction: skip
    // those here (they are 200s) — the PDU-level cases live in tests/federation/inbound.test.ts.
    // Oversized declared bodies.
    (i) => ({ name: "oversized body", method: "PUT", path: SEND + `big${i}`, headers: { ...json, "content-length": String(200 * 65536 + 1 + i) } }),
    // Notary queries with bad bodies.
    () => ({ name: "bad notary query", method: "POST", path: "/_matrix/key/v2/query", headers: json, body: pick(['{"server_keys": []}', "[]", "{", '{"server_keys": {"a": 5}}', JSON.stringify({ server_keys: Object.fromEntries(Array.from({ length: 101 }, (_, k) => [`s${k}.test`, {}])) })]) }),
    () => ({ name: "bad notary minimum", method: "GET", path: `/_matrix/key/v2/query/peer.test?minimum_valid_until_ts=${pick(["x", "-1", "1e9", "99999999999999999999"])}`, headers: {} }),
  ];
  void version;
  return Array.from({ length: count }, (_, i) => generators[i % generators.length]!(i));
}

async function tableCounts(): Promise<Record<string, number>> {
  const p = target.hs.db.prisma;
  return {
    received_transactions: await p.receivedTransaction.count(),
    inbound_edus: await p.inboundEdu.count(),
    staging: await p.inboundStagedEvent.count(),
    presence: await p.presence.count(),
    receipts: await p.receipt.count(),
    device_inbox: await p.deviceInboxMessage.count(),
    destinations: await p.destination.count(),
  };
}

describe("hostile inputs against the federation API", () => {
  before(async () => {
    // The per-origin rate limiter has its own tests; here it would only slow one origin's 10,000 requests down.
    const unlimited = { sleep_limit: 1_000_000, concurrent: 100, reject_limit: 1_000_000 };
    [target, peer] = (await startFederation([{ server_name: "target.test", rc_federation: unlimited }, { server_name: "peer.test" }])) as [TestHomeServer, TestHomeServer];
    await target.hs.stores.rooms.storeRoom("!room:peer.test", "10", Date.now());
  });
  after(() => Promise.all([target.stop(), peer.stop()]));

  it("answers 10,000+ generated bad requests with 4xx Matrix errors and changes nothing", async () => {
    // One valid request first, so the peer's key is cached and later refusals are about the request, not the key.
    const valid = { origin: "peer.test", origin_server_ts: 1, pdus: [], edus: [] };
    await peer.hs.transportClient.sendTransaction("target.test", "warm", valid);
    await target.hs.transactions.flush();
    const before = await tableCounts();

    const cases = generateCases(Number(process.env.HOSTILE_CASES ?? 10_200), prng(20261128));
    const pool = new Pool(target.baseUrl, { connections: 16 });
    const failures: string[] = [];
    const byName = new Map<string, number>();
    try {
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < cases.length) {
          const c = cases[next++]!;
          const res = await pool.request({ method: c.method as "PUT", path: c.path, headers: c.headers, body: c.body, headersTimeout: 10_000, bodyTimeout: 10_000 })
            .catch((e: Error) => ({ statusCode: 0, body: { text: async () => e.message } }));
          const text = await res.body.text();
          let errcode: unknown;
          try {
            errcode = (JSON.parse(text) as { errcode?: unknown }).errcode;
          } catch {
            errcode = undefined;
          }
          const ok = res.statusCode >= 400 && res.statusCode < 500 && typeof errcode === "string" && errcode.startsWith("M_");
          if (!ok && failures.length < 10) failures.push(`${c.name} ${c.method} ${c.path.slice(0, 80)} → ${res.statusCode} ${text.slice(0, 120)}`);
          byName.set(c.name, (byName.get(c.name) ?? 0) + 1);
        }
      }));
    } finally {
      await pool.close();
    }
    assert.deepEqual(failures, []);
    await target.hs.transactions.flush();
    assert.deepEqual(await tableCounts(), before, "stored data is unchanged");
    // Still serving, and still accepting a valid transaction.
    await peer.hs.transportClient.sendTransaction("target.test", "after", valid);
    assert.ok(cases.length >= 10_000);
  });

  it("answers requests Node's parser refuses (huge headers, garbage request lines) with Matrix errors", async () => {
    const raw = (payload: string) => new Promise<string>((resolve, reject) => {
      const socket = connect(target.port, "127.0.0.1", () => socket.write(payload));
      let data = "";
      socket.on("data", (d) => (data += d.toString()));
      socket.on("end", () => resolve(data));
      socket.on("error", reject);
      socket.setTimeout(5000, () => reject(new Error("hang")));
    });
    const huge = await raw(`GET /_matrix/federation/v1/version HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431/);
    assert.match(huge, /"errcode":"M_TOO_LARGE"/);
    const garbage = await raw("NOT HTTP AT ALL\r\n\r\n");
    assert.match(garbage, /^HTTP\/1\.1 400/);
    assert.match(garbage, /"errcode":"M_UNRECOGNIZED"/);
  });

  it("handles replayed and concurrent transaction IDs without double processing", async () => {
    const body = { origin: "peer.test", origin_server_ts: 1, pdus: [signEvent({ room_id: "!room:peer.test", sender: "@p:peer.test", type: "m.room.message", content: { body: "x" }, depth: 1, prev_events: [], auth_events: [], origin_server_ts: 1 }, getRoomVersion("10"), "peer.test", peer.hs.ownKeys.signingKey)], edus: [] };
    const path = SEND + "concurrent";
    const pool = new Pool(target.baseUrl, { connections: 8 });
    let results: (readonly [number, string])[];
    try {
      results = await Promise.all(Array.from({ length: 8 }, async () => {
        const res = await pool.request({ method: "PUT", path, headers: { "content-type": "application/json", authorization: sign("PUT", path, body) }, body: JSON.stringify(body) });
        return [res.statusCode, await res.body.text()] as const;
      }));
      assert.ok(results.every(([status]) => status === 200), JSON.stringify(results));
      assert.equal(new Set(results.map(([, text]) => text)).size, 1, "every copy got the same answer");
    } finally {
      await pool.close();
    }
    const [, answer] = results[0]!;
    const eventIds = Object.keys((JSON.parse(answer) as { pdus: Record<string, unknown> }).pdus);
    assert.equal(eventIds.length, 1);
    const copies = await target.hs.db.prisma.inboundStagedEvent.count({ where: { eventId: eventIds[0]! } })
      + await target.hs.db.prisma.event.count({ where: { eventId: eventIds[0]! } });
    assert.ok(copies <= 1, "the PDU was taken once (staged, or already processed by the room's worker)");
  });
});
