/**
 * The console's view of destinations on a running HomeServer: live queues in the listing (why one failed, sorted
 * by it), bulk retry by name and by filter, and how a name resolves.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TRPCError } from "@trpc/server";
import { createCaller } from "../../server/api/root";
import { MAX_BULK_RETRY } from "../../server/api/routers/destinations";
import { startTestHomeServer, type TestHomeServer } from "../support/homeserver";
import { startServer, waitFor, type TestServer } from "../transport/helpers";

let server: TestHomeServer;
let refuser: TestServer;
const caller = () => createCaller({ hs: server.hs, authenticated: true });

before(async () => {
  // refused.test turns every transaction down (a 4xx is final: no retries)
  refuser = await startServer((_req, res) => void res.writeHead(403, { "content-type": "application/json" }).end('{"errcode":"M_FORBIDDEN","error":"scripted refusal"}'));
  server = await startTestHomeServer({ server_name: "console.test", federation_domain_overrides: { "refused.test": `http://127.0.0.1:${refuser.port}` } });
  for (const d of ["a.test", "b.test", "bulk1.test", "bulk2.test"]) await server.hs.backoff.recordFailure(d, new Error("unreachable"));
});

after(async () => {
  await server.stop();
  await refuser.close();
});

describe("destinations.list", () => {
  it("shows a live queue's failure, sorts by it, and gives the server's clock for countdowns", async () => {
    server.hs.sender.buildAndSendEdu("refused.test", "org.example.ping", { n: 1 });
    await waitFor(() => server.hs.sender.queueState("refused.test")?.lastError?.status === 403, "the transaction to be refused");
    const before = Date.now();
    const page = await caller().destinations.list({ order_by: "last_error_ts", dir: "b", limit: 2 });
    assert.ok(page.now >= before && page.now <= Date.now());
    assert.deepEqual(page.destinations.map((d) => d.destination), ["refused.test", "a.test"]);
    assert.deepEqual(page.destinations[0]!.last_error && { ...page.destinations[0]!.last_error, at: 0 }, {
      at: 0, error_class: "http", message: page.destinations[0]!.last_error!.message, status: 403, errcode: "M_FORBIDDEN",
    });
    assert.match(page.destinations[0]!.last_error!.message, /scripted refusal/);
    const failing = await caller().destinations.list({ state: "backing_off" });
    // a refused transaction counts against the destination (Synapse sends them with backoff_on_all_error_codes)
    assert.deepEqual(failing.destinations.map((d) => d.destination), ["a.test", "b.test", "bulk1.test", "bulk2.test", "refused.test"]);
    assert.deepEqual([failing.total, failing.counts.backing_off], [5, 5]);
  });
});

describe("destinations.retryMany", () => {
  it("retries named destinations", async () => {
    assert.deepEqual(await caller().destinations.retryMany({ destinations: ["a.test", "b.test", "a.test", "never.test"] }), {
      destinations: 3, was_backing_off: 2, woken: 3,
    });
    assert.equal((await server.hs.stores.destinations.getRetryTimings("a.test"))!.retryInterval, 0);
    assert.equal((await caller().destinations.get({ destination: "b.test" })).state, "never_contacted");
  });

  it("retries every destination matching a filter", async () => {
    assert.deepEqual(await caller().destinations.retryMany({ state: "backing_off", search: "bulk" }), { destinations: 2, was_backing_off: 2, woken: 2 });
    assert.equal((await caller().destinations.list({ search: "bulk", state: "backing_off" })).total, 0);
  });

  it("refuses more than it acts on at once, and input that names no target", async () => {
    await server.hs.db.prisma.$executeRaw`
      INSERT INTO destinations (destination, retry_last_ts, retry_interval, failure_ts)
      SELECT 'many' || i || '.test', 1, 600000, 1 FROM generate_series(1, ${MAX_BULK_RETRY + 1}) i`;
    await assert.rejects(caller().destinations.retryMany({ search: "many" }), (e: TRPCError) =>
      e.code === "BAD_REQUEST" && e.message === `${MAX_BULK_RETRY + 1} destinations match; retry at most ${MAX_BULK_RETRY} at once (narrow the filter)`);
    await assert.rejects(caller().destinations.retryMany({ destinations: [] }), (e: TRPCError) => e.code === "BAD_REQUEST");
    await assert.rejects(caller().destinations.retryMany({ destinations: ["x.test"], state: "stuck" } as never), (e: TRPCError) => e.code === "BAD_REQUEST");
  });
});

describe("destinations.discovery", () => {
  it("tells how a name resolves, or why it does not", async () => {
    const resolved = await server.hs.discovery.resolve("refused.test");
    assert.deepEqual(await caller().destinations.discovery({ destination: "refused.test" }), {
      ok: true, method: "override", delegated_to: null, scheme: "http", targets: [`127.0.0.1:${refuser.port}`], host_header: "refused.test",
      tls_server_name: resolved.tlsServerName, steps: resolved.steps, well_known: null, cached_until: null,
    });
    // no .well-known and no SRV (the test DNS knows no names): the default port, and the failed lookup cached
    const fallback = await caller().destinations.discovery({ destination: "unknown.test" });
    assert.ok(fallback.ok);
    assert.deepEqual([fallback.method, fallback.targets, fallback.well_known?.outcome], ["default_port", ["unknown.test:8448"], "none"]);
    assert.ok(fallback.cached_until !== null && fallback.cached_until > Date.now());
    assert.deepEqual(await caller().destinations.discovery({ destination: "bad name!" }), { ok: false, error: 'invalid server name "bad name!"' });
  });
});
