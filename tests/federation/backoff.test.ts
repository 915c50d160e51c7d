import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Backoff, type BackoffConfig } from "../../server/federation/backoff";
import { createLogger } from "../../server/log";
import { openDatabase, type Database } from "../../server/store/database";
import { DestinationStore } from "../../server/store/destination-store";

const CONFIG: BackoffConfig = { destination_min_retry_interval: 600_000, destination_retry_multiplier: 2, destination_max_retry_interval: 7 * 86_400_000 };
const log = createLogger("error");

describe("Backoff (Synapse's retry schedule)", () => {
  let db: Database;
  let store: DestinationStore;
  before(async () => {
    db = await openDatabase("pglite:memory");
    store = new DestinationStore(db.prisma);
  });
  after(() => db.close());

  it("waits 10 minutes after a first failure, then ×2 with jitter 0.8–1.4, capped at 7 days", async () => {
    let now = 1_000_000;
    let r = 0;
    const backoff = new Backoff(store, CONFIG, log, () => now, () => r);
    assert.equal(await backoff.isReady("a.test"), true);

    await backoff.recordFailure("a.test", new Error("connection refused"));
    let t = await store.getRetryTimings("a.test");
    assert.deepEqual(t, { retryLastTs: 1_000_000, retryInterval: 600_000, failureTs: 1_000_000 });
    assert.equal(await backoff.isReady("a.test"), false);
    now += 599_999;
    assert.equal(await backoff.isReady("a.test"), false);
    now += 1;
    assert.equal(await backoff.isReady("a.test"), true, "ready exactly at retry_last_ts + retry_interval");

    r = 0; // lowest jitter: ×2×0.8
    await backoff.recordFailure("a.test", new Error("again"));
    t = await store.getRetryTimings("a.test");
    assert.equal(t!.retryInterval, 960_000);
    assert.equal(t!.failureTs, 1_000_000, "failure_ts keeps the start of the outage");

    r = 0.999999; // highest jitter: just under ×2×1.4
    await backoff.recordFailure("a.test", new Error("again"));
    t = await store.getRetryTimings("a.test");
    assert.ok(t!.retryInterval > 960_000 * 2 * 1.39 && t!.retryInterval <= 960_000 * 2 * 1.4);

    for (let i = 0; i < 40; i++) await backoff.recordFailure("a.test", new Error("down"));
    assert.equal((await store.getRetryTimings("a.test"))!.retryInterval, 7 * 86_400_000);
  });

  it("keeps every interval within the formula's bounds for random jitter", () => {
    const backoff = new Backoff(store, CONFIG, log, Date.now, Math.random);
    let interval = 0;
    for (let i = 0; i < 20; i++) {
      const next = backoff.nextInterval(interval);
      if (interval === 0) assert.equal(next, 600_000);
      else assert.ok(next >= Math.min(Math.floor(interval * 1.6), CONFIG.destination_max_retry_interval) && next <= Math.min(interval * 2.8, CONFIG.destination_max_retry_interval));
      interval = next;
    }
  });

  it("a success after failures clears the timings and announces the server as up", async () => {
    const backoff = new Backoff(store, CONFIG, log, () => 5_000_000);
    const up: string[] = [];
    backoff.onRemoteServerUp((d) => up.push(d));
    await backoff.recordFailure("b.test", new Error("x"));
    await backoff.recordSuccess("b.test");
    assert.deepEqual(await store.getRetryTimings("b.test"), { retryLastTs: 0, retryInterval: 0, failureTs: null });
    assert.deepEqual(up, ["b.test"]);
    await backoff.recordSuccess("b.test");
    assert.deepEqual(up, ["b.test"], "no announcement when it was not failing");
  });

  it("never shortens another process's longer interval (Synapse's upsert rule), but a reset always wins", async () => {
    assert.equal(await store.setRetryTimings("c.test", { retryLastTs: 10, retryInterval: 1_200_000, failureTs: 5 }), true);
    assert.equal(await store.setRetryTimings("c.test", { retryLastTs: 20, retryInterval: 600_000, failureTs: 5 }), false);
    assert.equal((await store.getRetryTimings("c.test"))!.retryInterval, 1_200_000);
    assert.equal(await store.setRetryTimings("c.test", { retryLastTs: 30, retryInterval: 2_400_000, failureTs: 5 }), true);
    assert.equal(await store.setRetryTimings("c.test", { retryLastTs: 0, retryInterval: 0, failureTs: null }), true);
    assert.equal((await store.getRetryTimings("c.test"))!.retryInterval, 0);
  });
});
