/**
 * What other servers sent us: stored transaction responses (idempotency per origin + txnId, kept 24 h) and a
 * bounded log of EDUs for the console.
 */
import type { PrismaClient } from "./generated/client";

export interface ReceivedTransactionRow {
  origin: string;
  transactionId: string;
  responseCode: number;
  responseJson: string;
  pduCount: number;
  eduCount: number;
  receivedTs: number;
}

export interface InboundEduRow {
  id: number;
  origin: string;
  transactionId: string;
  eduType: string;
  content: string;
  outcome: string;
  receivedTs: number;
}

export type LoggedEdu = Pick<InboundEduRow, "eduType" | "content" | "outcome">;

/** EDU content kept in the log is cut at this size: the log is for reading, not replay. */
export const MAX_LOGGED_EDU_CHARS = 4096;

export class InboundStore {
  constructor(private readonly prisma: PrismaClient) {}

  async getTransaction(origin: string, transactionId: string): Promise<ReceivedTransactionRow | null> {
    const r = await this.prisma.receivedTransaction.findUnique({ where: { origin_transactionId: { origin, transactionId } } });
    return r && { ...r, receivedTs: Number(r.receivedTs) };
  }

  /** Records transactions' responses and their EDUs, many at once, in one database transaction. */
  async recordTransactions(batch: { transaction: ReceivedTransactionRow; edus: LoggedEdu[] }[]): Promise<void> {
    await this.prisma.$transaction([
      this.prisma.receivedTransaction.createMany({
        data: batch.map(({ transaction: t }) => ({ ...t, receivedTs: BigInt(t.receivedTs) })),
        skipDuplicates: true,
      }),
      this.prisma.inboundEdu.createMany({
        data: batch.flatMap(({ transaction: t, edus }) => edus.map((e) => ({
          origin: t.origin, transactionId: t.transactionId, eduType: e.eduType, outcome: e.outcome,
          content: e.content.length > MAX_LOGGED_EDU_CHARS ? e.content.slice(0, MAX_LOGGED_EDU_CHARS) + "…" : e.content,
          receivedTs: BigInt(t.receivedTs),
        }))),
      }),
    ]);
  }

  async recentTransactions(origin: string | undefined, limit: number): Promise<ReceivedTransactionRow[]> {
    const rows = await this.prisma.receivedTransaction.findMany({
      where: origin ? { origin } : {}, orderBy: { receivedTs: "desc" }, take: limit,
    });
    return rows.map((r) => ({ ...r, receivedTs: Number(r.receivedTs) }));
  }

  async recentEdus(origin: string | undefined, limit: number): Promise<InboundEduRow[]> {
    const rows = await this.prisma.inboundEdu.findMany({ where: origin ? { origin } : {}, orderBy: { id: "desc" }, take: limit });
    return rows.map((r) => ({ ...r, id: Number(r.id), receivedTs: Number(r.receivedTs) }));
  }

  /** Forgets transaction responses older than `beforeTs` and keeps at most `keepEdus` logged EDUs. */
  async prune(beforeTs: number, keepEdus: number): Promise<void> {
    await this.prisma.receivedTransaction.deleteMany({ where: { receivedTs: { lt: BigInt(beforeTs) } } });
    const cutoff = await this.prisma.inboundEdu.findFirst({ orderBy: { id: "desc" }, skip: keepEdus, select: { id: true } });
    if (cutoff) await this.prisma.inboundEdu.deleteMany({ where: { id: { lte: cutoff.id } } });
  }
}
