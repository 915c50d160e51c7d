import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MatrixError } from "../../server/http/matrix-error";
import { FederationRateLimiter, RC_FEDERATION_DEFAULTS } from "../../server/federation/transport/rate-limiter";

describe("FederationRateLimiter (rc_federation)", () => {
  it("runs at most `concurrent` requests per origin at once, others wait their turn", async () => {
    const limiter = new FederationRateLimiter({ ...RC_FEDERATION_DEFAULTS, concurrent: 3 });
    let running = 0;
    let peak = 0;
    const release: Array<() => void> = [];
    const jobs = Array.from({ length: 8 }, () => limiter.run("a.test", async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((r) => release.push(r));
      running--;
    }));
    while (release.length < 3) await new Promise((r) => setImmediate(r));
    assert.equal(running, 3);
    // Another origin is not held up by a.test's queue.
    assert.equal(await limiter.run("b.test", async () => "b"), "b");
    while (release.length) {
      release.shift()!();
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(jobs);
    assert.equal(peak, 3);
  });

  it("refuses with 429 M_LIMIT_EXCEEDED once more than reject_limit requests wait", async () => {
    const limiter = new FederationRateLimiter({ window_size: 1000, sleep_limit: 1000, sleep_delay: 0, reject_limit: 2, concurrent: 1 });
    let unblock!: () => void;
    const blocker = limiter.run("c.test", () => new Promise<void>((r) => (unblock = r)));
    await new Promise((r) => setImmediate(r));
    const waiting = [limiter.run("c.test", async () => 1), limiter.run("c.test", async () => 2), limiter.run("c.test", async () => 3)];
    await new Promise((r) => setImmediate(r));
    await assert.rejects(limiter.run("c.test", async () => 4), (e: unknown) => e instanceof MatrixError && e.status === 429 && e.errcode === "M_LIMIT_EXCEEDED");
    unblock();
    await blocker;
    assert.deepEqual(await Promise.all(waiting), [1, 2, 3]);
  });

  it("delays requests beyond sleep_limit within one window", async () => {
    let now = 0;
    const limiter = new FederationRateLimiter({ window_size: 1000, sleep_limit: 2, sleep_delay: 30, reject_limit: 50, concurrent: 10 }, () => now);
    const order: number[] = [];
    const jobs = [1, 2, 3].map((n) => limiter.run("d.test", async () => void order.push(n)));
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(order, [1, 2], "the third request sleeps");
    await Promise.all(jobs);
    assert.deepEqual(order, [1, 2, 3]);
    now = 5000;
    await limiter.run("d.test", async () => void order.push(4));
    assert.deepEqual(order, [1, 2, 3, 4]);
  });
});
