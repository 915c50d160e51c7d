import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PositionTracker, POSITIONS_EVENT, type PositionsSnapshot } from "../../server/replication/positions";

function tracker(options: { stallAfterMs?: number; historySeconds?: number } = {}) {
  const clock = { now: 1_000_000 };
  const t = new PositionTracker({ instanceName: "main", now: () => clock.now, ...options });
  return { t, clock };
}

const consumer = (s: PositionsSnapshot, stream: string, name: string) => s.consumers.find((c) => c.stream === stream && c.consumer === name)!;

describe("PositionTracker", () => {
  it("measures lag in tokens and in the age of the oldest unprocessed row", () => {
    const { t, clock } = tracker();
    t.recordWriter("events", "main", 10);
    t.recordConsumer("events", "main", "sender1", 10);
    assert.deepEqual(
      { lagTokens: consumer(t.snapshot(), "events", "sender1").lagTokens, lagMs: consumer(t.snapshot(), "events", "sender1").lagMs },
      { lagTokens: 0, lagMs: 0 },
    );

    clock.now += 1000;
    t.recordWriter("events", "main", 15); // passed 10 at t+1s
    clock.now += 2000;
    t.recordWriter("events", "main", 20); // passed 15 at t+3s
    clock.now += 500;
    let c = consumer(t.snapshot(), "events", "sender1");
    assert.equal(c.writerToken, 20);
    assert.equal(c.lagTokens, 10);
    assert.equal(c.lagMs, 2500, "rows after 10 have waited since the writer went past 10");

    t.recordConsumer("events", "main", "sender1", 15);
    c = consumer(t.snapshot(), "events", "sender1");
    assert.equal(c.lagTokens, 5);
    assert.equal(c.lagMs, 500, "now only the rows after 15 wait, since t+3s");

    t.recordConsumer("events", "main", "sender1", 20);
    c = consumer(t.snapshot(), "events", "sender1");
    assert.deepEqual([c.lagTokens, c.lagMs, c.stalled], [0, 0, false]);
  });

  it("shows an unknown lag while the writer's position is unknown, and none for a consumer ahead", () => {
    const { t } = tracker();
    t.recordConsumer("typing", "main", "sender1", 3);
    assert.deepEqual(consumer(t.snapshot(), "typing", "sender1"), {
      stream: "typing", writer: "main", consumer: "sender1", token: 3, updatedTs: 1_000_000, writerToken: null, lagTokens: null, lagMs: null, stalled: false,
    });
    t.recordWriter("typing", "main", 1); // the writer restarted its in-memory stream
    const c = consumer(t.snapshot(), "typing", "sender1");
    assert.deepEqual([c.lagTokens, c.lagMs], [0, 0]);
  });

  it("flags a consumer stalled once work has waited, and it has not moved, for the threshold", () => {
    const { t, clock } = tracker({ stallAfterMs: 30_000 });
    t.recordWriter("events", "main", 5);
    t.recordConsumer("events", "main", "sender1", 5);
    clock.now += 60_000; // idle but caught up: not stalled
    assert.equal(consumer(t.snapshot(), "events", "sender1").stalled, false);

    t.recordWriter("events", "main", 6);
    clock.now += 29_999;
    assert.equal(consumer(t.snapshot(), "events", "sender1").stalled, false);
    clock.now += 1;
    assert.equal(consumer(t.snapshot(), "events", "sender1").stalled, true);

    t.recordConsumer("events", "main", "sender1", 6);
    assert.equal(consumer(t.snapshot(), "events", "sender1").stalled, false);

    // Moving, but never catching up, is lag, not a stall.
    for (let i = 7; i < 20; i++) {
      t.recordWriter("events", "main", i + 1);
      t.recordConsumer("events", "main", "sender1", i);
      clock.now += 10_000;
    }
    const c = consumer(t.snapshot(), "events", "sender1");
    assert.equal(c.lagTokens, 1);
    assert.equal(c.stalled, false);
  });

  it("considers a peer gone after 25 s of silence, and itself always alive", () => {
    const { t, clock } = tracker();
    t.seen("sender1");
    t.recordWriter("events", "main", 1);
    clock.now += 24_999;
    let instances = t.snapshot().instances;
    assert.deepEqual(instances.map((i) => [i.name, i.alive, i.self]), [["main", true, true], ["sender1", true, false]]);
    clock.now += 1;
    instances = t.snapshot().instances;
    assert.deepEqual(instances.map((i) => [i.name, i.alive]), [["main", true], ["sender1", false]]);
  });

  it("keeps at least 10 minutes of one-second samples in a ring, and streams each sample to listeners", () => {
    const { t, clock } = tracker({ historySeconds: 900 });
    t.recordWriter("events", "main", 0);
    t.recordConsumer("events", "main", "sender1", 0);
    const seen: PositionsSnapshot[] = [];
    const off = t.onPositions((s) => seen.push(s));
    for (let i = 1; i <= 1000; i++) {
      t.recordWriter("events", "main", i);
      clock.now += 1000;
      t.recordConsumer("events", "main", "sender1", i - 1);
      t.sample();
    }
    off();
    t.sample();
    assert.equal(seen.length, 1000, "unsubscribed listeners hear nothing more");
    assert.equal(t.emitter.listenerCount(POSITIONS_EVENT), 0);

    const all = t.lagHistory();
    assert.equal(all.length, 900, "the ring holds historySeconds samples");
    assert.equal(all[0]!.ts, 1_000_000 + 102_000, "oldest first: of 1001 samples the first 101 were overwritten");
    const tenMinutes = t.lagHistory(600);
    assert.equal(tenMinutes.length, 602, "600 one-second steps, both ends included, plus the last extra sample");
    assert.deepEqual(tenMinutes.at(-1)!.points, [{ stream: "events", writer: "main", consumer: "sender1", writerToken: 1000, consumerToken: 999, lagTokens: 1, lagMs: 1000 }]);
  });

  it("bounds what it remembers of a busy writer without losing the lag of a slow consumer", () => {
    const { t, clock } = tracker({ historySeconds: 60 });
    t.recordWriter("events", "main", 0);
    t.recordConsumer("events", "main", "sender1", 0);
    for (let i = 1; i <= 20_000; i++) {
      clock.now += 10;
      t.recordWriter("events", "main", i);
    }
    const c = consumer(t.snapshot(), "events", "sender1");
    assert.equal(c.lagTokens, 20_000);
    // The consumer is older than the window: its lag is at least the window.
    assert.ok(c.lagMs! >= 60_000 && c.lagMs! <= 200_000, String(c.lagMs));
  });
});
