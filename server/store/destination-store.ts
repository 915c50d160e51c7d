/**
 * Retry timings per remote server (table destinations). Writes follow Synapse's upsert rule: timings are only
 * overwritten by a reset (interval 0) or by a longer interval, so two processes cannot race a reset away or
 * shorten each other's backoff.
 */
import type { PrismaClient } from "./generated/client";

export interface RetryTimings {
  /** when the last failed attempt was made (0: not failing) */
  retryLastTs: number;
  /** how long after retryLastTs the next attempt may be made (0: not failing) */
  retryInterval: number;
  /** when the current run of failures began, or null */
  failureTs: number | null;
}

export const NOT_FAILING: RetryTimings = { retryLastTs: 0, retryInterval: 0, failureTs: null };

export class DestinationStore {
  constructor(private readonly prisma: PrismaClient) {}

  async getRetryTimings(destination: string): Promise<RetryTimings | null> {
    const r = await this.prisma.destination.findUnique({ where: { destination } });
    if (!r) return null;
    return { retryLastTs: Number(r.retryLastTs ?? 0n), retryInterval: Number(r.retryInterval ?? 0n), failureTs: r.failureTs === null ? null : Number(r.failureTs) };
  }

  /** Stores timings under the upsert rule; returns whether they were written. */
  async setRetryTimings(destination: string, t: RetryTimings): Promise<boolean> {
    const written = await this.prisma.$executeRaw`
      INSERT INTO destinations (destination, retry_last_ts, retry_interval, failure_ts)
      VALUES (${destination}, ${BigInt(t.retryLastTs)}, ${BigInt(t.retryInterval)}, ${t.failureTs === null ? null : BigInt(t.failureTs)})
      ON CONFLICT (destination) DO UPDATE SET
        retry_last_ts = EXCLUDED.retry_last_ts,
        retry_interval = EXCLUDED.retry_interval,
        failure_ts = EXCLUDED.failure_ts
      WHERE EXCLUDED.retry_interval = 0
        OR destinations.retry_interval IS NULL
        OR destinations.retry_interval < EXCLUDED.retry_interval`;
    return written > 0;
  }
}
