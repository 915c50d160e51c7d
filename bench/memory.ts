/**
 * Memory per idle destination. The figures need `global.gc`, so the benchmark runs itself in a child started with
 * `--expose-gc`, which measures the heap (after gc) before and after building per-destination state:
 *  - the FederationSender's: 100,000 PerDestinationQueues, each having sent one transaction (so it holds what a
 *    queue keeps after real traffic) and gone idle, kept in a Map as the sender keeps them;
 *  - the MatrixFederationClient's: a sample of destinations each sending one request to a loopback receiver (the
 *    client keeps a keep-alive undici Pool per destination), measured while the keep-alive socket is open, after
 *    the receiver closed it, and after the client's idle-pool sweep; extrapolated per destination.
 * The baseline, in the same child: a plain Map of 100,000 small objects {name, retryTs}.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Agent } from "undici";
import { generateSigningKey } from "../server/crypto";
import { PerDestinationQueue, type QueueContext } from "../server/federation/sender/destination-queue";
import type { PendingTransaction } from "../server/federation/sender/transaction-manager";
import { ServerDiscovery } from "../server/federation/transport/discovery";
import { IDLE_POOL_TIMEOUT_MS, MatrixFederationClient } from "../server/federation/transport/http-client";
import { IpRangeFilter } from "../server/federation/transport/ip-range";
import { createLogger } from "../server/log";
import { Semaphore } from "../server/util/semaphore";
import { offlineDnsResolver } from "../tests/support/homeserver";
import type { Benchmark, BenchRow } from "./harness";

const DESTINATIONS = 100_000;
/** destinations that really open a pool (each holds a socket while measured) */
const POOL_SAMPLE = 5_000;
const TARGET_BYTES = 1024;

interface Figures {
  baseline: number;
  queues: number;
  poolsOpen: number;
  poolsClosedSockets: number;
  poolsAfterSweep: number;
  rssQueues: number;
}

function heapAfterGc(): number {
  const gc = globalThis.gc;
  if (!gc) throw new Error("run with --expose-gc");
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** Bytes per item that `build` keeps reachable (what it returns is held until measured). */
async function perItem<T>(items: number, build: () => Promise<T> | T): Promise<{ bytes: number; kept: T }> {
  const before = heapAfterGc();
  const kept = await build();
  const after = heapAfterGc();
  return { bytes: (after - before) / items, kept };
}

/** A queue context whose transactions succeed at once, as after a healthy destination answered. */
function idleQueueContext(): QueueContext {
  let txn = 0;
  const log = createLogger("error");
  return {
    serverName: "origin.bench",
    transactions: {
      newTransaction: (destination, pdus, edus): PendingTransaction => ({
        txnId: `t_${txn++}`, destination, body: { origin: "origin.bench", origin_server_ts: 0, pdus: pdus.map((p) => p.pdu), edus: [...edus] },
        pduIds: pdus.map((p) => p.eventId), eduTypes: edus.map((e) => e.edu_type),
      }),
      send: () => Promise.resolve({ pduErrors: {} }),
    } as Pick<QueueContext["transactions"], "newTransaction" | "send"> as QueueContext["transactions"],
    backoff: { readiness: () => Promise.resolve({ ready: true }) },
    destinations: { getLastSuccessfulStreamOrdering: () => Promise.resolve(null) },
    destinationRooms: { getCatchUpRoomEvents: () => Promise.resolve([]) },
    outbox: {
      getNewDeviceMessagesForRemote: () => Promise.resolve({ edus: [], lastStreamId: 0 }),
      deleteDeviceMessagesForRemote: () => Promise.resolve(),
      getDeviceUpdatesByRemote: () => Promise.resolve({ edus: [], lastStreamId: 0 }),
      markAsSentDevicesByRemote: () => Promise.resolve(),
    },
    events: { getPdus: () => Promise.resolve(new Map()), forwardExtremities: () => Promise.resolve([]), joinedHostsAtEvent: () => Promise.resolve([]) },
    recordLastSuccessful: () => undefined,
    catchUpSlots: new Semaphore(20),
    startPosition: 0,
    owedAtStart: () => false,
    outboxMayHaveRows: () => false,
    isStopped: () => false,
    log,
    now: Date.now,
  };
}

async function measureQueues(names: string[]): Promise<{ bytes: number; rss: number }> {
  const ctx = idleQueueContext();
  const rssBefore = process.memoryUsage().rss;
  const { bytes, kept } = await perItem(names.length, async () => {
    const queues = new Map<string, PerDestinationQueue>();
    for (const name of names) {
      const queue = new PerDestinationQueue(name, ctx);
      queues.set(name, queue);
      queue.sendEdu({ edu_type: "m.typing", content: { room_id: "!r:origin.bench", user_id: "@u:origin.bench", typing: false } });
    }
    // let every loop send its transaction and stop
    while ([...queues.values()].some((q) => q.isRunning)) await new Promise((resolve) => setImmediate(resolve));
    return queues;
  });
  const rss = (process.memoryUsage().rss - rssBefore) / names.length;
  if (kept.size !== names.length) throw new Error("queues lost");
  return { bytes, rss };
}

async function measurePools(): Promise<Pick<Figures, "poolsOpen" | "poolsClosedSockets" | "poolsAfterSweep">> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
  });
  server.keepAliveTimeout = 600_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const names = Array.from({ length: POOL_SAMPLE }, (_, i) => `pool${i}.bench`);
  let clock = Date.now();
  const wellKnown = new Agent();
  const discovery = new ServerDiscovery({ resolver: offlineDnsResolver, wellKnownDispatcher: wellKnown, overrides: Object.fromEntries(names.map((n) => [n, url])) });
  const client = new MatrixFederationClient({
    serverName: "origin.bench", signingKey: generateSigningKey("b"), discovery, ipFilter: new IpRangeFilter(), verifyCertificates: false,
    now: () => clock,
  });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 500));
  const requestAll = async (batch: string[]) => {
    for (let i = 0; i < batch.length; i += 100) {
      await Promise.all(batch.slice(i, i + 100).map((n) => client.getJson(n, "/_matrix/federation/v1/version")));
    }
  };
  /** past the idle timeout, one request (to `names[0]`) sweeps the idle pools */
  const sweep = async () => {
    clock += IDLE_POOL_TIMEOUT_MS + 1;
    await client.getJson(names[0]!, "/_matrix/federation/v1/version");
    server.closeIdleConnections();
    await settle();
  };
  try {
    // a whole cycle first (open, peer closes, sweep) on other names, so code and caches are not counted
    await requestAll(names.slice(-100));
    server.closeIdleConnections();
    await settle();
    await sweep();
    const sample = names.slice(1, -100);
    const before = heapAfterGc();
    await requestAll(sample);
    const open = (heapAfterGc() - before) / sample.length;
    server.closeIdleConnections();
    await settle();
    const closed = (heapAfterGc() - before) / sample.length;
    await sweep();
    const swept = (heapAfterGc() - before) / sample.length;
    return { poolsOpen: open, poolsClosedSockets: closed, poolsAfterSweep: swept };
  } finally {
    await client.close();
    await wellKnown.close();
    server.closeAllConnections();
    server.close();
  }
}

async function child(): Promise<Figures> {
  const names = Array.from({ length: DESTINATIONS }, (_, i) => `destination-${i}.example.org`);
  const base = await perItem(DESTINATIONS, () => new Map(names.map((name) => [name, { name, retryTs: Date.now() }])));
  const baseline = base.bytes;
  base.kept.clear();
  const queues = await measureQueues(names);
  const pools = await measurePools();
  return { baseline, queues: queues.bytes, rssQueues: queues.rss, ...pools };
}

function runChild(): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), "--child"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    proc.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    proc.on("error", reject);
    proc.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`memory child exited with ${code}`));
      resolve(JSON.parse(out.trim().split("\n").at(-1)!) as Figures);
    });
  });
}

const memory: Benchmark = async () => {
  const f = await runChild();
  const idle = f.queues + f.poolsAfterSweep;
  process.stderr.write(
    `memory: per destination (heap after gc): idle queue ${f.queues.toFixed(0)} B (RSS ${f.rssQueues.toFixed(0)} B), ` +
    `pool with open socket ${f.poolsOpen.toFixed(0)} B, pool after its socket closed ${f.poolsClosedSockets.toFixed(0)} B, ` +
    `after the idle-pool sweep ${f.poolsAfterSweep.toFixed(0)} B; baseline {name, retryTs} ${f.baseline.toFixed(0)} B; ` +
    `idle total ${idle.toFixed(0)} B (target ≤ ${TARGET_BYTES} B)\n`,
  );
  const row = (figure: string, bytes: number): BenchRow => ({
    figure, switchyard: Math.round(bytes), baseline: Math.round(f.baseline), unit: "B/destination", ratio: Number((bytes / f.baseline).toFixed(3)),
  });
  return [
    row(`${DESTINATIONS} idle destinations: sender PerDestinationQueue (heap after gc)`, f.queues),
    row(`HTTP client pool per destination, keep-alive socket open (${POOL_SAMPLE} sampled)`, f.poolsOpen),
    row("HTTP client pool per destination, socket closed by the peer", f.poolsClosedSockets),
    row(`HTTP client per destination after ${IDLE_POOL_TIMEOUT_MS / 60_000} min idle (pools swept)`, f.poolsAfterSweep),
    row(`idle destination total: queue + swept client state (target ≤ ${TARGET_BYTES} B)`, idle),
  ];
};

export default memory;

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "--child") {
  process.stdout.write(JSON.stringify(await child()) + "\n");
  process.exit(0);
}
