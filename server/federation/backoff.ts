/**
 * When a remote server may be tried again (Synapse's RetryDestinationLimiter, DESIGN.md §5): the first failure
 * waits `destination_min_retry_interval`; each further failure multiplies the interval by
 * `destination_retry_multiplier` × uniform(0.8, 1.4), up to `destination_max_retry_interval`. A destination is
 * ready when retry_last_ts + retry_interval ≤ now. Success after failure resets the timings and announces the
 * server as up; so does a verified request from it.
 */
import type { FederationRequestError } from "./transport/errors";
import type { FederationBackoff } from "./transport/http-client";
import { NOT_FAILING, type DestinationStore, type RetryTimings } from "../store/destination-store";
import type { Logger } from "../http/router";

export interface BackoffConfig {
  destination_min_retry_interval: number;
  destination_retry_multiplier: number;
  destination_max_retry_interval: number;
}

/** Timings read from the database are trusted this long, so other processes' changes show up soon. */
const CACHE_MS = 5000;
/**
 * A destination that was not failing is trusted longer: its timings change when one of our own requests fails
 * (recorded here, which updates the cache) and every request to it would otherwise re-read them. Another
 * process's failure against it shows up at the latest on our next failure.
 */
const HEALTHY_CACHE_MS = 60_000;
/** An inbound request re-reads timings at most this often per origin, to notice another process's failures. */
const MARK_UP_CACHE_MS = 1000;

export type RemoteServerUpListener = (destination: string) => void;

export class Backoff implements FederationBackoff {
  private readonly cache = new Map<string, { timings: RetryTimings; readAt: number }>();
  private readonly upListeners: RemoteServerUpListener[] = [];

  constructor(
    private readonly store: DestinationStore,
    private readonly config: BackoffConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  onRemoteServerUp(listener: RemoteServerUpListener): void {
    this.upListeners.push(listener);
  }

  async getTimings(destination: string, maxAgeMs?: number): Promise<RetryTimings> {
    const cached = this.cache.get(destination);
    const ttl = maxAgeMs ?? (cached && cached.timings.retryInterval === 0 && cached.timings.failureTs === null ? HEALTHY_CACHE_MS : CACHE_MS);
    if (cached && this.now() - cached.readAt < ttl) return cached.timings;
    const timings = (await this.store.getRetryTimings(destination)) ?? NOT_FAILING;
    this.cache.set(destination, { timings, readAt: this.now() });
    if (this.cache.size > 100_000) this.cache.clear();
    return timings;
  }

  async isReady(destination: string): Promise<boolean> {
    return (await this.readiness(destination)).ready;
  }

  /** Whether the destination may be tried now and, when not, when it may (Synapse's get_retry_limiter check). */
  async readiness(destination: string): Promise<Readiness> {
    let t: RetryTimings;
    try {
      t = await this.getTimings(destination);
    } catch (e) {
      this.log.warn("cannot read retry timings; trying anyway", { destination, error: (e as Error).message });
      return { ready: true };
    }
    const retryAt = t.retryLastTs + t.retryInterval;
    return t.retryInterval === 0 || retryAt <= this.now() ? { ready: true } : { ready: false, retryAt, retryInterval: t.retryInterval };
  }

  /**
   * Whether the destination may be tried within `withinMs` (Synapse's filter_destinations_by_retry_limiter): work
   * for a server that stays down longer is not queued in memory but left to catch-up.
   */
  async retryDueWithin(destination: string, withinMs: number): Promise<boolean> {
    const r = await this.readiness(destination);
    return r.ready || r.retryAt <= this.now() + withinMs;
  }

  /** The next interval after a failure, given the current one (0 when not failing). */
  nextInterval(current: number): number {
    if (current <= 0) return this.config.destination_min_retry_interval;
    const next = Math.floor(current * this.config.destination_retry_multiplier * (0.8 + 0.6 * this.random()));
    return Math.min(next, this.config.destination_max_retry_interval);
  }

  /** Forgets the cached timings: another process changed them (its REMOTE_SERVER_UP says so). */
  invalidate(destination: string): void {
    this.cache.delete(destination);
  }

  async recordFailure(destination: string, error: FederationRequestError | Error): Promise<void> {
    try {
      const current = await this.getTimings(destination);
      const now = this.now();
      const timings: RetryTimings = {
        retryLastTs: now,
        retryInterval: this.nextInterval(current.retryInterval),
        failureTs: current.failureTs ?? now,
      };
      await this.store.setRetryTimings(destination, timings);
      this.cache.delete(destination);
      this.log.info("destination backing off", { destination, retry_in_ms: timings.retryInterval, error: error.message });
    } catch (e) {
      this.log.warn("cannot record failure", { destination, error: (e as Error).message });
    }
  }

  /** Our request succeeded: the cached view of the timings is enough (this runs after every request). */
  async recordSuccess(destination: string): Promise<void> {
    await this.clearIfFailing(destination, undefined);
  }

  /**
   * The destination sent us a verified request: clear its timings if it was failing (re-read at most each second,
   * to notice another process's failures) and tell the listeners, which wake its queue.
   */
  async markUp(destination: string): Promise<void> {
    await this.clearIfFailing(destination, MARK_UP_CACHE_MS);
  }

  private async clearIfFailing(destination: string, maxAgeMs: number | undefined): Promise<void> {
    try {
      const current = await this.getTimings(destination, maxAgeMs);
      if (current.retryInterval === 0 && current.failureTs === null) return;
      await this.reset(destination);
      this.log.info("destination is up again", { destination });
    } catch (e) {
      this.log.warn("cannot reset retry timings", { destination, error: (e as Error).message });
    }
  }

  /**
   * Clears the timings unconditionally and announces the server as up (REMOTE_SERVER_UP), which wakes its queue
   * and cuts short retry sleeps: the operator's "retry now" and reset_connection, and markUp.
   */
  async reset(destination: string): Promise<void> {
    await this.store.setRetryTimings(destination, NOT_FAILING);
    this.cache.set(destination, { timings: NOT_FAILING, readAt: this.now() });
    for (const listener of this.upListeners) listener(destination);
  }

  /** reset() for many destinations (bulk retry): one write for those failing, each announced as up; returns them. */
  async resetMany(destinations: readonly string[]): Promise<string[]> {
    const cleared = await this.store.clearRetryTimings(destinations);
    const now = this.now();
    for (const destination of cleared) {
      this.cache.set(destination, { timings: NOT_FAILING, readAt: now });
      for (const listener of this.upListeners) listener(destination);
    }
    return cleared;
  }
}

export type Readiness = { ready: true } | { ready: false; retryAt: number; retryInterval: number };
