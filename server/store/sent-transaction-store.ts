/** The log of transactions we sent (table sent_transactions), for the console; bounded per destination. */
import type { PrismaClient } from "./generated/client";

export type SentTransactionOutcome = "success" | "failed" | "pdu_errors";

export interface SentTransactionRow {
  destination: string;
  transactionId: string;
  pduCount: number;
  eduCount: number;
  startedTs: number;
  durationMs: number;
  outcome: SentTransactionOutcome;
  error: string | null;
  instanceName: string;
}

/** Error texts are for reading in the console; a remote's long error body is cut. */
export const MAX_LOGGED_ERROR_CHARS = 1000;

export class SentTransactionStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** Many rows in one statement of column arrays: a busy sender logs tens of thousands a minute. */
  async record(rows: readonly SentTransactionRow[]): Promise<void> {
    if (rows.length === 0) return;
    const column = <T>(pick: (r: SentTransactionRow) => T) => rows.map(pick);
    const errors = column((r) => (r.error !== null && r.error.length > MAX_LOGGED_ERROR_CHARS ? r.error.slice(0, MAX_LOGGED_ERROR_CHARS) + "…" : r.error));
    await this.prisma.$executeRaw`
      INSERT INTO sent_transactions (destination, transaction_id, pdu_count, edu_count, started_ts, duration_ms, outcome, error, instance_name)
      SELECT * FROM unnest(
        ${column((r) => r.destination)}::text[], ${column((r) => r.transactionId)}::text[], ${column((r) => r.pduCount)}::int[],
        ${column((r) => r.eduCount)}::int[], ${column((r) => BigInt(r.startedTs))}::bigint[], ${column((r) => r.durationMs)}::int[],
        ${column((r) => r.outcome)}::text[], ${errors}::text[], ${column((r) => r.instanceName)}::text[])`;
  }

  /** The destination's newest transactions first. */
  async recent(destination: string, limit: number): Promise<SentTransactionRow[]> {
    const rows = await this.prisma.sentTransaction.findMany({ where: { destination }, orderBy: { id: "desc" }, take: limit });
    return rows.map((r) => ({
      destination: r.destination, transactionId: r.transactionId, pduCount: r.pduCount, eduCount: r.eduCount,
      startedTs: Number(r.startedTs), durationMs: r.durationMs, outcome: r.outcome as SentTransactionOutcome,
      error: r.error, instanceName: r.instanceName,
    }));
  }

  /** Keeps the newest `keepPerDestination` rows of each destination. */
  async prune(keepPerDestination: number): Promise<void> {
    await this.prisma.$executeRaw`
      DELETE FROM sent_transactions WHERE id IN (
        SELECT id FROM (
          SELECT id, row_number() OVER (PARTITION BY destination ORDER BY id DESC) AS n FROM sent_transactions
        ) ranked WHERE n > ${keepPerDestination}
      )`;
  }
}
