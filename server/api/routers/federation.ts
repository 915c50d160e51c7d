/** `federation.*`: what other servers sent us — received transactions and their EDUs, newest first. */
import { z } from "zod";
import { adminProcedure, createTRPCRouter } from "../trpc";

export const federationRouter = createTRPCRouter({
  inbound: adminProcedure
    .input(z.object({ origin: z.string().trim().min(1).max(255).optional(), limit: z.number().int().min(1).max(500).default(50) }).default({ limit: 50 }))
    .query(async ({ ctx: { hs }, input }) => {
      const [transactions, edus] = await Promise.all([
        hs.stores.inbound.recentTransactions(input.origin, input.limit),
        hs.stores.inbound.recentEdus(input.origin, input.limit),
      ]);
      return {
        transactions: transactions.map((t) => ({
          origin: t.origin,
          transaction_id: t.transactionId,
          received_ts: t.receivedTs,
          pdu_count: t.pduCount,
          edu_count: t.eduCount,
          response_code: t.responseCode,
          pdu_errors: countPduErrors(t.responseJson),
        })),
        edus: edus.map((e) => ({
          origin: e.origin,
          transaction_id: e.transactionId,
          edu_type: e.eduType,
          outcome: e.outcome,
          received_ts: e.receivedTs,
          content: e.content,
        })),
      };
    }),
});

/** How many PDUs of a transaction we answered with an error. */
function countPduErrors(responseJson: string): number {
  try {
    const body = JSON.parse(responseJson) as { pdus?: Record<string, { error?: string }> };
    return Object.values(body.pdus ?? {}).filter((r) => r.error !== undefined).length;
  } catch {
    return 0;
  }
}
