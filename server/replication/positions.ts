/**
 * Live replication positions and lag. Writers' positions come from the POSITION and RDATA commands seen (and
 * from our own streamer); consumers' processed positions from our own data handler, from FEDERATION_ACK, or
 * from whoever else knows them (e.g. positions stored in the database). Lag is the writer's position minus the
 * consumer's, in tokens, and in milliseconds: how long ago the writer first went past the consumer's position,
 * i.e. the age of the oldest row the consumer has not processed (0 when caught up). A history of samples, one
 * per second, feeds the console's charts; a consumer with work pending that has not moved for `stallAfterMs`
 * is stalled, and an instance silent for `peerTimeoutMs` is gone.
 */
import { EventEmitter } from "node:events";
import type { Token } from "./commands";

export interface WriterPosition {
  stream: string;
  instance: string;
  token: Token;
  /** when we learned of this token */
  updatedTs: number;
}

export interface ConsumerPosition {
  stream: string;
  writer: string;
  consumer: string;
  token: Token;
  /** when the consumer's token last changed */
  updatedTs: number;
  /** null while the writer's position is unknown */
  writerToken: Token | null;
  lagTokens: number | null;
  lagMs: number | null;
  stalled: boolean;
}

export interface InstanceState {
  name: string;
  lastSeenTs: number | null;
  alive: boolean;
  /** this process */
  self: boolean;
}

export interface PositionsSnapshot {
  ts: number;
  instances: InstanceState[];
  writers: WriterPosition[];
  consumers: ConsumerPosition[];
}

export interface LagPoint {
  stream: string;
  writer: string;
  consumer: string;
  writerToken: Token | null;
  consumerToken: Token;
  lagTokens: number | null;
  lagMs: number | null;
}

export interface LagSample {
  ts: number;
  points: LagPoint[];
}

export interface PositionTrackerOptions {
  /** this process's instance name; absent for an observer outside the deployment */
  instanceName?: string;
  now?: () => number;
  /** history kept for charts (default 15 minutes) */
  historySeconds?: number;
  sampleIntervalMs?: number;
  stallAfterMs?: number;
  peerTimeoutMs?: number;
}

export const POSITIONS_EVENT = "positions";

/** Writer advances closer together than this share one entry in the reached-at list, which bounds its size. */
const COALESCE_MS = 100;
const MAX_REACHED_ENTRIES = 10_000;

interface Reached {
  token: Token;
  ts: number;
}

interface WriterState {
  token: Token;
  updatedTs: number;
  /** ascending tokens with the time the writer was first seen at or past each */
  reached: Reached[];
}

interface ConsumerState {
  token: Token;
  updatedTs: number;
}

const key = (...parts: string[]) => parts.join("\u0000");

/** A fixed-size ring of samples, oldest overwritten first. */
class Ring<T> {
  private readonly items: (T | undefined)[];
  private next = 0;
  private size = 0;

  constructor(private readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  push(item: T): void {
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
  }

  /** oldest first */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.items[(this.next - this.size + i + this.capacity) % this.capacity]!);
    return out;
  }
}

export class PositionTracker {
  /** emits POSITIONS_EVENT with a PositionsSnapshot after every sample */
  readonly emitter = new EventEmitter();
  private readonly writers = new Map<string, WriterState & { stream: string; instance: string }>();
  private readonly consumers = new Map<string, ConsumerState & { stream: string; writer: string; consumer: string }>();
  private readonly lastSeen = new Map<string, number>();
  private readonly history: Ring<LagSample>;
  private readonly now: () => number;
  private readonly historyMs: number;
  private readonly sampleIntervalMs: number;
  private readonly stallAfterMs: number;
  private readonly peerTimeoutMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: PositionTrackerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.historyMs = (options.historySeconds ?? 900) * 1000;
    this.sampleIntervalMs = options.sampleIntervalMs ?? 1000;
    this.stallAfterMs = options.stallAfterMs ?? 30_000;
    this.peerTimeoutMs = options.peerTimeoutMs ?? 25_000;
    this.history = new Ring(Math.max(1, Math.ceil(this.historyMs / this.sampleIntervalMs)));
    this.emitter.setMaxListeners(0);
  }

  /** Samples every `sampleIntervalMs` until stop(). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), this.sampleIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** An instance showed it is alive (any command naming it). */
  seen(instance: string): void {
    this.lastSeen.set(instance, this.now());
  }

  recordWriter(stream: string, instance: string, token: Token): void {
    const now = this.now();
    this.seen(instance);
    const k = key(stream, instance);
    const state = this.writers.get(k);
    if (!state) {
      this.writers.set(k, { stream, instance, token, updatedTs: now, reached: [{ token, ts: now }] });
      return;
    }
    if (token === state.token) return;
    state.updatedTs = now;
    state.token = token;
    if (token < state.reached[state.reached.length - 1]!.token) {
      // The writer restarted an in-memory stream: what it reached before no longer compares.
      state.reached = [{ token, ts: now }];
      return;
    }
    const last = state.reached[state.reached.length - 1]!;
    if (now - last.ts < COALESCE_MS) last.token = token;
    else state.reached.push({ token, ts: now });
    this.trimReached(state, now);
  }

  recordConsumer(stream: string, writer: string, consumer: string, token: Token): void {
    const k = key(stream, writer, consumer);
    const state = this.consumers.get(k);
    if (state && state.token === token) return;
    this.consumers.set(k, { stream, writer, consumer, token, updatedTs: this.now() });
  }

  /** Every writer of `stream` we know of. */
  writersOf(stream: string): string[] {
    return [...this.writers.values()].filter((w) => w.stream === stream).map((w) => w.instance);
  }

  writerToken(stream: string, instance: string): Token | undefined {
    return this.writers.get(key(stream, instance))?.token;
  }

  snapshot(): PositionsSnapshot {
    const now = this.now();
    const names = new Set<string>(this.lastSeen.keys());
    // A consumer may be a part of an instance ("sender1/federation_sender"): the instance is the part before "/".
    for (const c of this.consumers.values()) names.add(c.consumer.split("/")[0]!);
    if (this.options.instanceName) names.add(this.options.instanceName);
    const instances = [...names].sort().map((name): InstanceState => {
      const self = name === this.options.instanceName;
      const lastSeenTs = this.lastSeen.get(name) ?? null;
      return { name, lastSeenTs, self, alive: self || (lastSeenTs !== null && now - lastSeenTs < this.peerTimeoutMs) };
    });
    const writers = [...this.writers.values()]
      .map(({ stream, instance, token, updatedTs }) => ({ stream, instance, token, updatedTs }))
      .sort((a, b) => a.stream.localeCompare(b.stream) || a.instance.localeCompare(b.instance));
    const consumers = [...this.consumers.values()]
      .map((c) => this.consumerView(c, now))
      .sort((a, b) => a.stream.localeCompare(b.stream) || a.writer.localeCompare(b.writer) || a.consumer.localeCompare(b.consumer));
    return { ts: now, instances, writers, consumers };
  }

  /** Takes one history sample and tells listeners; called every second by start(), or by tests with their clock. */
  sample(): PositionsSnapshot {
    const snapshot = this.snapshot();
    this.history.push({
      ts: snapshot.ts,
      points: snapshot.consumers.map(({ stream, writer, consumer, writerToken, token, lagTokens, lagMs }) => ({
        stream, writer, consumer, writerToken, consumerToken: token, lagTokens, lagMs,
      })),
    });
    this.emitter.emit(POSITIONS_EVENT, snapshot);
    return snapshot;
  }

  /** Samples from the last `seconds` (all kept when absent), oldest first. */
  lagHistory(seconds?: number): LagSample[] {
    const samples = this.history.toArray();
    if (seconds === undefined) return samples;
    const since = this.now() - seconds * 1000;
    return samples.filter((s) => s.ts >= since);
  }

  /** Calls `listener` with each new sample; returns the unsubscribe function. */
  onPositions(listener: (snapshot: PositionsSnapshot) => void): () => void {
    this.emitter.on(POSITIONS_EVENT, listener);
    return () => this.emitter.off(POSITIONS_EVENT, listener);
  }

  private consumerView(c: ConsumerState & { stream: string; writer: string; consumer: string }, now: number): ConsumerPosition {
    const writer = this.writers.get(key(c.stream, c.writer));
    const base = { stream: c.stream, writer: c.writer, consumer: c.consumer, token: c.token, updatedTs: c.updatedTs };
    if (!writer) return { ...base, writerToken: null, lagTokens: null, lagMs: null, stalled: false };
    const lagTokens = Math.max(0, writer.token - c.token);
    const behindSince = lagTokens > 0 ? firstPast(writer.reached, c.token) : undefined;
    const lagMs = behindSince === undefined ? 0 : Math.max(0, now - behindSince);
    const stalled = lagTokens > 0 && lagMs >= this.stallAfterMs && now - c.updatedTs >= this.stallAfterMs;
    return { ...base, writerToken: writer.token, lagTokens, lagMs, stalled };
  }

  private trimReached(state: WriterState, now: number): void {
    // Keep one entry older than the window so a consumer that far behind still gets a (lower-bound) lag.
    let drop = 0;
    while (drop < state.reached.length - 1 && state.reached[drop + 1]!.ts < now - this.historyMs) drop++;
    drop = Math.max(drop, state.reached.length - MAX_REACHED_ENTRIES);
    if (drop > 0) state.reached.splice(0, drop);
  }
}

/** When the writer was first seen past `token`: the first entry with a larger token (binary search). */
function firstPast(reached: Reached[], token: Token): number | undefined {
  let lo = 0;
  let hi = reached.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (reached[mid]!.token > token) hi = mid;
    else lo = mid + 1;
  }
  return reached[lo]?.ts;
}
