import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { canonicalJson, generateSigningKey, type JsonObject } from "../../server/crypto";
import { CATCHUP_RETRY_INTERVAL_MS } from "../../server/federation/sender/destination-queue";
import { federationSenderFor } from "../../server/federation/sender/sharding";
import type { PresenceState } from "../../server/federation/sender/types";
import { openDatabase, type Database } from "../../server/store/database";
import { ERROR_500, FaultServer, OK, type SeenTransaction } from "../support/fault-server";
import { BACKOFF, SenderHarness } from "../support/sender-harness";
import { waitFor } from "../transport/helpers";

const SELF = "origin.test";

let db: Database;
before(async () => {
  db = await openDatabase("pglite:memory");
});
after(() => db.close());

/** A receiver for `names` and a sender whose key it checks. */
async function setUp(names: string[], options: { instances?: string[]; random?: () => number; requestTimeoutMs?: number } = {}) {
  const key = generateSigningKey("t");
  const server = await FaultServer.start(key.publicKey);
  const h = new SenderHarness(db, { key, overrides: Object.fromEntries(names.map((n) => [n, server.url])), ...options });
  return { server, h };
}

/** Persists `n` events in the room; returns their IDs and records their PDUs in `into`. */
async function persistMany(h: SenderHarness, roomId: string, n: number, into: Map<string, JsonObject>): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const e = await h.source.persist({ roomId });
    into.set(e.eventId, e.pdu);
    ids.push(e.eventId);
  }
  return ids;
}

/** Event IDs of the PDUs in `transactions`, in order (PDUs of room v3+ carry no event_id). */
function idsOf(transactions: SeenTransaction[], pdus: Map<string, JsonObject>): string[] {
  const byJson = new Map([...pdus].map(([id, pdu]) => [canonicalJson(pdu), id]));
  return transactions.flatMap((t) => t.pdus.map((p) => byJson.get(canonicalJson(p)) ?? "(unknown PDU)"));
}

async function loopIdle(h: SenderHarness, destination: string): Promise<void> {
  await waitFor(() => h.sender.queueState(destination)?.transmissionLoopRunning === false, `${destination}'s transmission loop to stop`);
}

describe("FederationSender", () => {
  it("Synapse's shard rule: little-endian sha256 of the destination modulo the instances", () => {
    // expected values computed with Python: int.from_bytes(sha256(name).digest(), "little") % n
    const two = ["main", "other"];
    const three = ["x", "y", "z"];
    const names = ["a1.test", "b1.test", "c1.test", "d1.test", "e1.test", "f1.test"];
    assert.deepEqual(names.map((n) => federationSenderFor(n, two)), ["other", "main", "main", "other", "other", "main"]);
    assert.deepEqual(names.map((n) => federationSenderFor(n, three)), ["x", "y", "y", "y", "z", "x"]);
    assert.equal(federationSenderFor("a1.test", ["only"]), "only");
  });

  it("sends each new event once, signed, to the other servers in its room: never to us or to another instance's", async () => {
    const names = ["a1.test", "b1.test", "c1.test", "d1.test", "e1.test", "f1.test"];
    const ours = ["b1.test", "c1.test", "f1.test"];
    const { server, h } = await setUp(names, { instances: ["main", "other"] });
    await h.start();
    try {
      const room = "!fan:origin.test";
      h.source.setHosts(room, [SELF, ...names]);
      const pdus = new Map<string, JsonObject>();
      const ids = await persistMany(h, room, 3, pdus);
      // a remote user's event is not ours to send; outliers and rejected events are not sent
      await h.source.persist({ roomId: room, sender: "@bob:b1.test" });
      await h.source.persist({ roomId: room, outlier: true });
      await h.source.persist({ roomId: room, rejected: true });
      ids.push(...(await persistMany(h, room, 1, pdus)));
      await waitFor(() => ours.every((d) => server.delivered(d).flatMap((t) => t.pdus).length === 4), "our destinations to get 4 PDUs each");
      for (const d of ours) assert.deepEqual(idsOf(server.delivered(d), pdus), ids, `${d} gets each PDU once, in order`);
      assert.deepEqual([...new Set(server.seen.map((t) => t.destination))].sort(), ours);
      assert.ok(server.seen.every((t) => t.signatureValid && t.origin === SELF), "every request has a valid X-Matrix signature");
      const metrics = await h.metrics.registry.getSingleMetricAsString("synapse_federation_client_sent_pdu_destinations_total");
      assert.match(metrics, /synapse_federation_client_sent_pdu_destinations_total 12$/m);
    } finally {
      await h.close();
      await server.close();
    }
  });

  it("fills transactions with at most 50 PDUs and 100 EDUs in Synapse's EDU order; a keyed EDU replaces the older one", async () => {
    const d = "edu.test";
    const room = "!edu:origin.test";
    // the first transaction is held while the rest is queued: it must not time out meanwhile on a loaded machine
    const { server, h } = await setUp([d], { requestTimeoutMs: 120_000 });
    await h.start();
    try {
      h.source.setHosts(room, [SELF, d]);
      const pdus = new Map<string, JsonObject>();
      const release = server.hold();
      const first = await persistMany(h, room, 1, pdus);
      await waitFor(() => server.seen.length === 1, "the first transaction to be in flight");

      const presence: PresenceState[] = Array.from({ length: 60 }, (_, i) => ({
        user_id: `@u${i}:${SELF}`, state: "online", last_active_ts: h.clock.now() - 1000, last_federation_update_ts: 0,
        last_user_sync_ts: 0, status_msg: null, currently_active: true,
      }));
      await h.sender.sendPresenceToDestinations(presence, [d]);
      for (let i = 0; i < 7; i++) {
        // one user in seven threads: each needs its own m.receipt EDU
        await h.sender.sendReadReceipt({ roomId: room, receiptType: "m.read", userId: `@alice:${SELF}`, eventIds: first, data: { ts: i }, threadId: `t${i}` });
      }
      await h.outbox.addToDeviceMessages(d, Array.from({ length: 95 }, (_, i) => ({ sender: `@alice:${SELF}`, type: "m.test", message_id: `m${i}`, messages: {} })), 0);
      await h.outbox.addDeviceListPokes(Array.from({ length: 20 }, (_, i) => ({
        destination: d, userId: `@alice:${SELF}`, deviceId: `D${i}`, content: { user_id: `@alice:${SELF}`, device_id: `D${i}`, stream_id: i }, ts: 0,
      })));
      await h.sender.sendDeviceMessages([d]);
      for (let i = 0; i < 3; i++) h.sender.buildAndSendEdu(d, "org.example.custom", { n: i });
      await h.sender.sendTyping(room, `@alice:${SELF}`, true);
      await h.sender.sendTyping(room, `@bob:${SELF}`, true);
      await h.sender.sendTyping(room, `@alice:${SELF}`, false);
      const rest = await persistMany(h, room, 120, pdus);
      await waitFor(() => h.sender.queueState(d)?.pendingPdus === 121, "all PDUs to be queued");
      const state = h.sender.queueState(d)!;
      assert.deepEqual(state.pendingEdus, { "m.presence": 60, "m.receipt": 7, "org.example.custom": 3, "m.typing": 2 });
      assert.equal(state.inFlight?.pdus, 1, "the first transaction is shown in flight");
      release();
      await waitFor(() => server.delivered(d).flatMap((t) => t.pdus).length === 121, "every PDU to arrive");
      await loopIdle(h, d);

      const delivered = server.delivered(d);
      assert.equal(delivered.length, 4);
      const [t1, t2, t3, t4] = delivered as [SeenTransaction, SeenTransaction, SeenTransaction, SeenTransaction];
      const runs = (t: SeenTransaction) => t.edus.reduce<[string, number][]>((acc, e) => {
        const last = acc.at(-1);
        if (last?.[0] === e.edu_type) last[1]++;
        else acc.push([e.edu_type, 1]);
        return acc;
      }, []);
      assert.equal(t1.pdus.length, 1);
      // presence (one EDU of 50 states) → 5 receipt EDUs → to-device, 10 slots left → device lists → others → keyed
      assert.deepEqual(runs(t2), [["m.presence", 1], ["m.receipt", 5], ["m.direct_to_device", 84], ["m.device_list_update", 10]]);
      assert.equal((t2.edus[0]!.content.push as unknown[]).length, 50);
      assert.equal(t2.pdus.length, 50);
      assert.deepEqual(runs(t3), [["m.presence", 1], ["m.receipt", 2], ["m.direct_to_device", 11], ["m.device_list_update", 10], ["org.example.custom", 3], ["m.typing", 2]]);
      assert.equal((t3.edus[0]!.content.push as unknown[]).length, 10);
      assert.deepEqual(t3.edus.filter((e) => e.edu_type === "m.typing").map((e) => e.content), [
        { room_id: room, user_id: `@alice:${SELF}`, typing: false },
        { room_id: room, user_id: `@bob:${SELF}`, typing: true },
      ], "alice's newer typing EDU replaced her older one");
      assert.equal(t3.pdus.length, 50);
      assert.deepEqual(runs(t4), []);
      assert.equal(t4.pdus.length, 20);
      assert.deepEqual(idsOf(delivered, pdus), [...first, ...rest], "every PDU exactly once, in order");
      assert.deepEqual(await h.outbox.pendingCounts(d), { toDevice: 0, deviceLists: 0 }, "delivered outbox rows are acknowledged");
    } finally {
      await h.close();
      await server.close();
    }
  });

  it("keeps the txnId across retries (500s, hangs, refused connections) and delivers each PDU exactly once", async () => {
    const names = ["fails.test", "hangs.test", "refuses.test"];
    const { server, h } = await setUp(names, { requestTimeoutMs: 300 });
    await h.start();
    try {
      const pdus = new Map<string, JsonObject>();
      // 500: the HTTP client's 11 attempts all fail, the destination backs off, the transaction is kept
      h.source.setHosts("!fails:origin.test", [SELF, "fails.test"]);
      server.answer(...Array<typeof ERROR_500>(11).fill(ERROR_500));
      const [e1] = await persistMany(h, "!fails:origin.test", 1, pdus);
      await waitFor(() => h.sender.queueState("fails.test")?.lastError !== null && server.seen.length === 11, "the first transaction to fail");
      await loopIdle(h, "fails.test");
      assert.equal((await h.destinations.getRetryTimings("fails.test"))!.retryInterval, BACKOFF.destination_min_retry_interval);
      const [e2] = await persistMany(h, "!fails:origin.test", 1, pdus);
      await loopIdle(h, "fails.test");
      assert.equal(server.seen.length, 11, "nothing is sent while backing off");
      assert.equal(h.sender.queueState("fails.test")!.retainedTxnId, server.seen[0]!.txnId);
      const retried = await h.sender.retryNow("fails.test");
      assert.deepEqual(retried, { destination: "fails.test", owner: "main", wasBackingOff: true, woken: true });
      assert.equal((await h.destinations.getRetryTimings("fails.test"))!.retryInterval, 0, "retryNow ends the backoff at once");
      await waitFor(() => server.delivered("fails.test").length === 2, "the kept transaction and then the next");
      const fails = server.seen.filter((t) => t.destination === "fails.test");
      assert.equal(new Set(fails.slice(0, 12).map((t) => t.txnId)).size, 1, "the failed transaction is sent again with its txnId");
      assert.notEqual(fails[12]!.txnId, fails[0]!.txnId, "a new txnId only after a 200");
      assert.deepEqual(idsOf(server.delivered("fails.test"), pdus), [e1, e2]);

      // hang: the request times out and is retried within the call, with the same txnId
      h.source.setHosts("!hangs:origin.test", [SELF, "hangs.test"]);
      server.answer("hang", "hang");
      const [e3] = await persistMany(h, "!hangs:origin.test", 1, pdus);
      await waitFor(() => server.delivered("hangs.test").length === 1, "the hung transaction to get through");
      const hangs = server.seen.filter((t) => t.destination === "hangs.test");
      assert.equal(hangs.length, 3);
      assert.equal(new Set(hangs.map((t) => t.txnId)).size, 1);
      assert.deepEqual(idsOf(server.delivered("hangs.test"), pdus), [e3]);

      // refused connections: the attempts never reach the server, which then comes back
      await server.refuse();
      h.source.setHosts("!refuses:origin.test", [SELF, "refuses.test"]);
      const [e4] = await persistMany(h, "!refuses:origin.test", 1, pdus);
      await waitFor(() => h.sender.queueState("refuses.test")?.lastError?.errorClass === "connect", "the connection to be refused");
      await loopIdle(h, "refuses.test");
      await server.recover();
      await h.sender.retryNow("refuses.test");
      await waitFor(() => server.delivered("refuses.test").length === 1, "delivery once the server is back");
      await loopIdle(h, "refuses.test");
      await h.sender.flush();
      const log = await h.sentTransactions.recent("refuses.test", 10);
      assert.deepEqual(log.map((t) => t.outcome), ["success", "failed"]);
      assert.equal(log[0]!.transactionId, log[1]!.transactionId);
      assert.equal(server.delivered("refuses.test")[0]!.txnId, log[1]!.transactionId);
      assert.deepEqual(idsOf(server.delivered("refuses.test"), pdus), [e4]);
      assert.deepEqual(h.sender.queueState("refuses.test")!.lastError, null);
    } finally {
      await h.close();
      await server.close();
    }
  });

  it("retries only when the backoff allows: 10 min, then ×2 × jitter in [0.8, 1.4]; past an hour it catches up instead", async () => {
    const d = "flaky.test";
    const room = "!flaky:origin.test";
    const jitters = [0, 0.999, 0.5];
    const { server, h } = await setUp([d], { random: () => jitters.shift() ?? 0.5 });
    server.otherwise(ERROR_500);
    await h.start();
    try {
      h.source.setHosts(room, [SELF, d]);
      const pdus = new Map<string, JsonObject>();
      await persistMany(h, room, 1, pdus);
      const failOnce = async () => {
        const before = server.seen.length;
        h.sender.wakeDestination(d);
        await waitFor(() => server.seen.length === before + 11, "an attempt (11 requests) to fail");
        await loopIdle(h, d);
        return (await h.destinations.getRetryTimings(d))!;
      };
      await waitFor(() => server.seen.length === 11, "the first attempt");
      await loopIdle(h, d);
      const start = h.clock.now();
      let t = (await h.destinations.getRetryTimings(d))!;
      assert.deepEqual(t, { retryLastTs: start, retryInterval: 600_000, failureTs: start });

      const intervals = [600_000];
      for (const jitter of [0.8, 0.8 + 0.6 * 0.999, 0.8 + 0.6 * 0.5]) {
        // one millisecond early: no request
        h.clock.advance(t.retryInterval - 1);
        const before = server.seen.length;
        h.sender.wakeDestination(d);
        await loopIdle(h, d);
        assert.equal(server.seen.length, before, "not retried before retry_last_ts + retry_interval");
        h.clock.advance(1);
        t = await failOnce();
        const previous = intervals.at(-1)!;
        assert.equal(t.retryInterval, Math.floor(previous * 2 * jitter));
        assert.ok(t.retryInterval >= previous * 1.6 && t.retryInterval <= previous * 2.8, "within the jitter bounds");
        assert.equal(t.retryLastTs, h.clock.now());
        assert.equal(t.failureTs, start, "failure_ts keeps the start of the outage");
        intervals.push(t.retryInterval);
      }
      assert.ok(t.retryInterval > CATCHUP_RETRY_INTERVAL_MS);

      // Backing off for more than an hour: new PDUs are left to catch-up, and the queue drops what it held.
      const [newest] = await persistMany(h, room, 1, pdus);
      h.sender.wakeDestination(d);
      await loopIdle(h, d);
      const state = h.sender.queueState(d)!;
      assert.equal(state.catchingUp, true);
      assert.equal(state.pendingPdus, 0);
      assert.equal(state.retainedTxnId, null);

      server.otherwise(OK);
      const delivered = server.delivered(d).length;
      h.clock.advance(t.retryInterval);
      h.sender.wakeDestination(d);
      await waitFor(() => server.delivered(d).length === delivered + 1, "catch-up once the backoff is over");
      await loopIdle(h, d);
      assert.deepEqual(idsOf(server.delivered(d), pdus), [newest], "catch-up sends the room's newest event");
      assert.deepEqual(await h.destinations.getRetryTimings(d), { retryLastTs: 0, retryInterval: 0, failureTs: null }, "success clears the timings");
    } finally {
      await h.close();
      await server.close();
    }
  });

  it("after a restart in the middle of a backlog, catch-up delivers the newest event of every room", async () => {
    const d = "behind.test";
    const { server, h } = await setUp([d]);
    await h.start();
    try {
      const rooms = Array.from({ length: 60 }, (_, i) => `!r${i}:origin.test`);
      const pdus = new Map<string, JsonObject>();
      for (const room of rooms) h.source.setHosts(room, [SELF, d]);
      for (const room of rooms) await persistMany(h, room, 1, pdus);
      await waitFor(() => server.delivered(d).flatMap((t) => t.pdus).length === 60, "the first 60 events");

      // the destination goes down with a backlog queued
      server.otherwise(ERROR_500);
      const newest = new Map<string, string>();
      for (const room of rooms) newest.set(room, (await persistMany(h, room, 2, pdus)).at(-1)!);
      await waitFor(() => h.sender.queueState(d)?.lastError !== null, "the destination to fail");
      await loopIdle(h, d);
      assert.ok(h.sender.queueState(d)!.pendingPdus > 0, "PDUs were waiting in memory");

      // restart; one more event is persisted while no sender runs
      await h.stopSender();
      newest.set(rooms[0]!, (await persistMany(h, rooms[0]!, 1, pdus))[0]!);
      server.otherwise(OK);
      h.clock.advance(BACKOFF.destination_max_retry_interval);
      const before = server.delivered(d).length;
      await h.start();
      await waitFor(() => {
        const got = new Set(idsOf(server.delivered(d).slice(before), pdus));
        return rooms.every((r) => got.has(newest.get(r)!));
      }, "every room's newest event");
      await loopIdle(h, d);
      const after = server.delivered(d).slice(before);
      for (const t of after) assert.equal(new Set(t.pdus.map((p) => p.room_id)).size, 1, "catch-up sends one room per transaction");
      assert.equal(h.sender.queueState(d)!.catchingUp, false);
      await h.sender.flush();
      const maxStreamOrdering = Math.max(...(await h.source.getEventsSince(0, 100_000)).map((e) => e.streamOrdering));
      assert.equal(await h.destinations.getLastSuccessfulStreamOrdering(d), maxStreamOrdering);
    } finally {
      await h.close();
      await server.close();
    }
  });

  it("retryNow starts a queue that is not backing off but has work waiting", async () => {
    const d = "idle.test";
    const { server, h } = await setUp([d], { });
    await h.start();
    try {
      // written by another process whose notification never came: nothing would send it before the next round
      await h.outbox.addToDeviceMessages(d, [{ sender: `@alice:${SELF}`, type: "m.test", message_id: "late", messages: {} }], 0);
      assert.equal(server.seen.length, 0);
      const result = await h.sender.retryNow(d);
      assert.deepEqual(result, { destination: d, owner: "main", wasBackingOff: false, woken: true });
      await waitFor(() => server.delivered(d).length === 1, "the outbox to be sent");
      assert.deepEqual(server.delivered(d)[0]!.edus.map((e) => e.content.message_id), ["late"]);
    } finally {
      await h.close();
      await server.close();
    }
  });
});
