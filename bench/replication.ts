/**
 * The events stream over Redis, through our replication: `main`'s streamer publishes RDATA for rows written to
 * its events stream, and a federation sender's command handler parses, validates and applies them (data handler →
 * a registered row handler). The baseline, in the same run on the same private redis-server: raw ioredis PUBLISH
 * of the very same RDATA lines to a raw SUBSCRIBE that only counts them. Throughput: rows written at once until
 * the last is applied (received). Latency: one row at a time, from the write to applied (received).
 */
import { Redis } from "ioredis";
import { createLogger } from "../server/log";
import { createReplication, type Replication } from "../server/replication";
import { serializeCommand } from "../server/replication/commands";
import { RedisTransport } from "../server/replication/redis";
import { EventsStream, MemoryStreamWriter, eventRow, type EventsStreamRow } from "../server/replication/streams";
import { PrivateRedis } from "../tests/support/redis-server";
import type { Benchmark, BenchRow } from "./harness";

const ROWS = 20_000;
const WARM_UP_ROWS = 2_000;
const LATENCY_SAMPLES = 2_000;
const CHANNEL = "bench.test";
const log = createLogger("error");

const row = (n: number): EventsStreamRow => eventRow({
  event_id: `$event${n}:bench.test`, room_id: "!room:bench.test", type: "m.room.message", state_key: null,
  redacts: null, relates_to: null, membership: null, rejected: false, outlier: false,
});

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Counts rows as they arrive; `reach(n)` resolves once n have. */
function counter() {
  let count = 0;
  let waiter: { target: number; resolve: () => void } | undefined;
  return {
    add(n: number) {
      count += n;
      if (waiter && count >= waiter.target) {
        const w = waiter;
        waiter = undefined;
        w.resolve();
      }
    },
    get count() { return count; },
    reach(target: number): Promise<void> {
      if (count >= target) return Promise.resolve();
      return new Promise((resolve) => { waiter = { target, resolve }; });
    },
  };
}

interface Pipeline {
  /** writes `n` rows and resolves when all are applied (received) */
  run(n: number): Promise<void>;
  close(): Promise<void>;
}

async function ours(url: string): Promise<Pipeline> {
  const writer = new MemoryStreamWriter(EventsStream, { maxRows: ROWS + WARM_UP_ROWS + LATENCY_SAMPLES });
  const transport = (instanceName: string) => new RedisTransport({ url, channel: CHANNEL, instanceName, log });
  const main: Replication = createReplication({ instanceName: "main", transport: transport("main"), log, writers: [writer] });
  const sender: Replication = createReplication({ instanceName: "sender1", transport: transport("sender1"), log });
  const applied = counter();
  sender.dataHandler.register(EventsStream, ({ rows }) => applied.add(rows.length));
  await main.start();
  await sender.start();
  await Promise.all([main.commandHandler.whenConnected(), sender.commandHandler.whenConnected()]);
  // RDATA applies once the consumer has had main's POSITION for the stream
  while (sender.dataHandler.position("events", "main") === undefined) await new Promise((r) => setTimeout(r, 10));
  let written = 0;
  return {
    async run(n) {
      for (let i = 0; i < n; i++) writer.append(row(written++));
      main.streamer.notify();
      await applied.reach(written);
    },
    async close() {
      await sender.stop();
      await main.stop();
    },
  };
}

async function raw(url: string): Promise<Pipeline> {
  const publisher = new Redis(url);
  const subscriber = new Redis(url);
  const received = counter();
  subscriber.on("message", () => received.add(1));
  await subscriber.subscribe(`${CHANNEL}.raw`);
  let written = 0;
  return {
    async run(n) {
      for (let i = 0; i < n; i++) {
        const token = ++written;
        // the same line our streamer publishes for this row
        void publisher.publish(`${CHANNEL}.raw`, serializeCommand({ name: "RDATA", streamName: "events", instanceName: "main", token, row: row(token) }));
      }
      await received.reach(written);
    },
    async close() {
      await Promise.all([publisher.quit(), subscriber.quit()]);
    },
  };
}

async function throughput(pipeline: Pipeline): Promise<number> {
  await pipeline.run(WARM_UP_ROWS);
  const started = performance.now();
  await pipeline.run(ROWS);
  return (ROWS * 1000) / (performance.now() - started);
}

/**
 * Latency samples alternate between the two pipelines, so that both see the same machine: on two cores the
 * wake-ups of Redis and of this process vary run to run by more than the pipelines differ.
 */
async function latencies(pipelines: [Pipeline, Pipeline]): Promise<[{ p50: number; p99: number }, { p50: number; p99: number }]> {
  const samples: [number[], number[]] = [[], []];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    for (const k of [0, 1] as const) {
      const t = performance.now();
      await pipelines[k].run(1);
      samples[k].push(performance.now() - t);
    }
  }
  const summary = (s: number[]) => {
    s.sort((a, b) => a - b);
    return { p50: percentile(s, 50), p99: percentile(s, 99) };
  };
  return [summary(samples[0]), summary(samples[1])];
}

const replication: Benchmark = async () => {
  const redis = await PrivateRedis.start();
  try {
    const oursPipeline = await ours(redis.url);
    const rawPipeline = await raw(redis.url);
    let a, b;
    try {
      const oursRate = await throughput(oursPipeline);
      const rawRate = await throughput(rawPipeline);
      const [oursLatency, rawLatency] = await latencies([oursPipeline, rawPipeline]);
      a = { rowsPerSecond: oursRate, ...oursLatency };
      b = { rowsPerSecond: rawRate, ...rawLatency };
    } finally {
      await Promise.all([oursPipeline.close(), rawPipeline.close()]);
    }
    process.stderr.write(
      `replication: ${ROWS} events rows: ours ${a.rowsPerSecond.toFixed(0)} rows/s, raw pub/sub ${b.rowsPerSecond.toFixed(0)} rows/s; ` +
      `latency p50/p99 ours ${a.p50.toFixed(3)}/${a.p99.toFixed(3)} ms, raw ${b.p50.toFixed(3)}/${b.p99.toFixed(3)} ms\n`,
    );
    const latencyRow = (p: string, x: number, y: number): BenchRow => ({
      figure: `one events row, write → applied (raw: PUBLISH → received), ${p} (lower is better)`,
      switchyard: Number(x.toFixed(3)), baseline: Number(y.toFixed(3)), unit: "ms", ratio: Number((x / y).toFixed(3)),
    });
    return [
      {
        figure: `${ROWS} events rows over Redis: streamer → RDATA → data handler applied, vs raw ioredis PUBLISH → SUBSCRIBE of the same lines`,
        switchyard: Math.round(a.rowsPerSecond), baseline: Math.round(b.rowsPerSecond), unit: "rows/s", ratio: Number((a.rowsPerSecond / b.rowsPerSecond).toFixed(3)),
      },
      latencyRow("p50", a.p50, b.p50),
      latencyRow("p99", a.p99, b.p99),
    ];
  } finally {
    await redis.kill();
  }
};

export default replication;
