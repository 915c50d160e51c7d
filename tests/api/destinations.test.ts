import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TRPCError } from "@trpc/server";
import { createCaller } from "../../server/api/root";
import { formatSigningKeyFile, generateSigningKey } from "../../server/crypto";
import { FaultServer } from "../support/fault-server";
import { startTestHomeServer, type TestHomeServer } from "../support/homeserver";
import { TableEventSource } from "../support/sender-events";
import { waitFor } from "../transport/helpers";

/** One Switchyard (hs.test) that has sent a PDU to ok.test, and backs off from down.test and three more. */
let server: TestHomeServer;
let receiver: FaultServer;
let source: TableEventSource;
let keyDir: string;
let streamOrdering: number;
const ROOM = "!api:hs.test";

before(async () => {
  const key = generateSigningKey("k");
  keyDir = mkdtempSync(join(tmpdir(), "switchyard-key-"));
  writeFileSync(join(keyDir, "signing.key"), formatSigningKeyFile(key));
  receiver = await FaultServer.start(key.publicKey);
  server = await startTestHomeServer(
    { server_name: "hs.test", signing_key_path: join(keyDir, "signing.key"), federation_domain_overrides: { "ok.test": receiver.url } },
    { senderEvents: ({ prisma, serverName, signingKey }) => (source = new TableEventSource(prisma, serverName, signingKey)) },
  );
  source.setHosts(ROOM, ["hs.test", "ok.test"]);
  streamOrdering = (await source.persist({ roomId: ROOM })).streamOrdering;
  await waitFor(() => receiver.delivered("ok.test").length === 1, "the PDU to reach ok.test");
  await waitFor(() => server.hs.sender.queueState("ok.test")?.transmissionLoopRunning === false, "the queue to finish");
  for (const d of ["down.test", "down2.test", "down3.test", "z-down.test"]) await server.hs.backoff.recordFailure(d, new Error("unreachable"));
  await server.hs.sender.flush();
});

after(async () => {
  await server.stop();
  await receiver.close();
  rmSync(keyDir, { recursive: true, force: true });
});

async function admin(path: string, init: { method?: string; token?: string | null } = {}): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const token = init.token === undefined ? server.hs.adminToken : init.token;
  const res = await fetch(`${server.baseUrl}${path}`, {
    method: init.method ?? "GET",
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    ...(init.method === "POST" ? { body: "{}" } : {}),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // metrics are text
  }
  return { status: res.status, body, text };
}

const BASE = "/_synapse/admin/v1/federation/destinations";

describe("Synapse's federation admin API", () => {
  it("wants the admin token", async () => {
    assert.deepEqual(await admin(BASE, { token: null }).then((r) => [r.status, r.body.errcode]), [401, "M_MISSING_TOKEN"]);
    assert.deepEqual(await admin(BASE, { token: "wrong" }).then((r) => [r.status, r.body.errcode]), [401, "M_UNKNOWN_TOKEN"]);
  });

  it("lists destinations with Synapse's fields, filter, order and pages", async () => {
    const all = await admin(BASE);
    assert.equal(all.status, 200);
    assert.equal(all.body.total, 5);
    assert.equal(all.body.next_token, undefined);
    const rows = all.body.destinations as Record<string, unknown>[];
    assert.deepEqual(rows.map((r) => r.destination), ["down.test", "down2.test", "down3.test", "ok.test", "z-down.test"]);
    assert.deepEqual(rows[3], { destination: "ok.test", retry_last_ts: 0, retry_interval: 0, failure_ts: null, last_successful_stream_ordering: streamOrdering });
    assert.deepEqual(Object.keys(rows[0]!), ["destination", "retry_last_ts", "retry_interval", "failure_ts", "last_successful_stream_ordering"]);
    assert.equal(rows[0]!.retry_interval, 600_000);

    const page = await admin(`${BASE}?from=1&limit=2`);
    assert.deepEqual((page.body.destinations as { destination: string }[]).map((r) => r.destination), ["down2.test", "down3.test"]);
    assert.equal(page.body.next_token, "3");
    const search = await admin(`${BASE}?destination=OK`);
    assert.deepEqual([search.body.total, (search.body.destinations as { destination: string }[])[0]!.destination], [1, "ok.test"]);
    // PostgreSQL's order, as on Synapse: NULL (never set) sorts last going forwards, first going backwards
    const bySuccess = await admin(`${BASE}?order_by=last_successful_stream_ordering&limit=1`);
    assert.equal((bySuccess.body.destinations as { destination: string }[])[0]!.destination, "ok.test");
    const backwards = await admin(`${BASE}?order_by=last_successful_stream_ordering&dir=b`);
    assert.deepEqual((backwards.body.destinations as { destination: string }[]).map((r) => r.destination), ["down.test", "down2.test", "down3.test", "z-down.test", "ok.test"]);

    assert.deepEqual(await admin(`${BASE}?order_by=bogus`).then((r) => [r.status, r.body.errcode]), [400, "M_INVALID_PARAM"]);
    assert.deepEqual(await admin(`${BASE}?from=-1`).then((r) => [r.status, r.body.errcode]), [400, "M_INVALID_PARAM"]);
    assert.deepEqual(await admin(`${BASE}?dir=x`).then((r) => [r.status, r.body.errcode]), [400, "M_INVALID_PARAM"]);
  });

  it("shows one destination and its rooms; 404 for one we never federated with", async () => {
    const one = await admin(`${BASE}/ok.test`);
    assert.deepEqual(one.body, { destination: "ok.test", retry_last_ts: 0, retry_interval: 0, failure_ts: null, last_successful_stream_ordering: streamOrdering });
    const rooms = await admin(`${BASE}/ok.test/rooms`);
    assert.deepEqual(rooms.body, { rooms: [{ room_id: ROOM, stream_ordering: streamOrdering }], total: 1 });
    assert.deepEqual(await admin(`${BASE}/nowhere.test`).then((r) => [r.status, r.body]), [404, { errcode: "M_NOT_FOUND", error: "Unknown destination" }]);
    assert.equal((await admin(`${BASE}/nowhere.test/rooms`)).status, 404);
  });

  it("reset_connection: 404 unknown, 400 when there is nothing to reset, else clears the timings", async () => {
    assert.equal((await admin(`${BASE}/nowhere.test/reset_connection`, { method: "POST" })).status, 404);
    const notFailing = await admin(`${BASE}/ok.test/reset_connection`, { method: "POST" });
    assert.deepEqual([notFailing.status, notFailing.body.errcode], [400, "M_UNKNOWN"]);
    const reset = await admin(`${BASE}/down3.test/reset_connection`, { method: "POST" });
    assert.deepEqual([reset.status, reset.body], [200, {}]);
    assert.deepEqual(await server.hs.stores.destinations.getRetryTimings("down3.test"), { retryLastTs: 0, retryInterval: 0, failureTs: null });
  });
});

describe("Prometheus metrics", () => {
  it("are served at /_synapse/metrics and /metrics to the admin, under Synapse's names", async () => {
    for (const path of ["/_synapse/metrics", "/metrics"]) {
      const r = await admin(path);
      assert.equal(r.status, 200);
      assert.match(r.text, /^synapse_federation_client_sent_transactions_total [1-9]/m);
      assert.match(r.text, /^synapse_federation_client_sent_pdu_destinations_total 1$/m);
      assert.match(r.text, /^synapse_federation_transaction_queue_pending_pdus 0$/m);
      assert.match(r.text, /^synapse_federation_transaction_queue_pending_edus 0$/m);
      assert.match(r.text, /^synapse_federation_transaction_queue_pending_destinations \d+$/m);
      assert.match(r.text, /^synapse_federation_server_received_pdus_total 0$/m);
      assert.match(r.text, /^synapse_federation_server_received_edus_total 0$/m);
      assert.match(r.text, /^process_cpu_user_seconds_total /m);
      assert.equal((await admin(path, { token: null })).status, 401);
    }
  });
});

describe("destinations.* (console API)", () => {
  const caller = () => createCaller({ hs: server.hs, authenticated: true });

  it("lists destinations with their state, counts, filter, order and cursor", async () => {
    const all = await caller().destinations.list({});
    assert.equal(all.total, 5);
    const ok = all.destinations.find((d) => d.destination === "ok.test")!;
    assert.equal(ok.state, "healthy");
    assert.equal(ok.room_count, 1);
    assert.equal(ok.last_successful_stream_ordering, streamOrdering);
    assert.ok(ok.last_success_ts !== null);
    const down = all.destinations.find((d) => d.destination === "down.test")!;
    assert.equal(down.state, "backing_off");
    assert.equal(down.next_retry_ts, down.retry_last_ts + 600_000);
    assert.equal(all.counts.backing_off, 3);

    const failing = await caller().destinations.list({ state: "backing_off", order_by: "destination", dir: "b", limit: 2 });
    assert.deepEqual(failing.destinations.map((d) => d.destination), ["z-down.test", "down2.test"]);
    assert.equal(failing.next_cursor, "2");
    const rest = await caller().destinations.list({ state: "backing_off", order_by: "destination", dir: "b", limit: 2, cursor: failing.next_cursor! });
    assert.deepEqual(rest.destinations.map((d) => d.destination), ["down.test"]);
    assert.equal(rest.next_cursor, null);
    const search = await caller().destinations.list({ search: "down2" });
    assert.deepEqual(search.destinations.map((d) => d.destination), ["down2.test"]);
  });

  it("gets one destination, its transactions and its rooms", async () => {
    const ok = await caller().destinations.get({ destination: "ok.test" });
    assert.equal(ok.pending_pdus, 0);
    assert.equal(ok.pending_to_device, 0);
    assert.equal(ok.owner, "main");
    const txns = await caller().destinations.transactions({ destination: "ok.test" });
    assert.equal(txns.length, 1);
    assert.deepEqual({ ...txns[0], started_ts: 0, duration_ms: 0, transaction_id: "" }, {
      transaction_id: "", destination: "ok.test", pdu_count: 1, edu_count: 0, started_ts: 0, duration_ms: 0, outcome: "success", error: null, instance_name: "main",
    });
    assert.equal(txns[0]!.transaction_id, receiver.delivered("ok.test")[0]!.txnId);
    assert.deepEqual(await caller().destinations.rooms({ destination: "ok.test" }), { rooms: [{ room_id: ROOM, stream_ordering: streamOrdering }], total: 1, next_cursor: null });
    await assert.rejects(caller().destinations.get({ destination: "nowhere.test" }), (e: TRPCError) => e.code === "NOT_FOUND");
  });

  it("retryNow, reset and clearDiscoveryCache act on the destination", async () => {
    const retried = await caller().destinations.retryNow({ destination: "down2.test" });
    assert.deepEqual(retried, { destination: "down2.test", owner: "main", was_backing_off: true, woken: true });
    assert.equal((await server.hs.stores.destinations.getRetryTimings("down2.test"))!.retryInterval, 0);
    await assert.rejects(caller().destinations.reset({ destination: "ok.test" }), (e: TRPCError) => e.code === "BAD_REQUEST");
    await assert.rejects(caller().destinations.reset({ destination: "nowhere.test" }), (e: TRPCError) => e.code === "NOT_FOUND");
    assert.deepEqual(await caller().destinations.reset({ destination: "z-down.test" }), { destination: "z-down.test", reset: true });
    assert.deepEqual(await caller().destinations.clearDiscoveryCache({ destination: "ok.test" }), { destination: "ok.test", cleared: true });
  });

  it("every procedure wants the admin", async () => {
    const anonymous = createCaller({ hs: server.hs, authenticated: false });
    await assert.rejects(anonymous.destinations.list({}), (e: TRPCError) => e.code === "UNAUTHORIZED");
    await assert.rejects(anonymous.destinations.retryNow({ destination: "ok.test" }), (e: TRPCError) => e.code === "UNAUTHORIZED");
  });
});
