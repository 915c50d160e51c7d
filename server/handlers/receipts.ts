/** Read receipts from other servers (m.receipt): room → receipt type → user → {event_ids, data}. */
import { z } from "zod";
import type { ReceiptRow, ReceiptStore } from "../store/receipt-store";
import { assertOwnUser, parseEdu } from "./edu-validation";

const receiptSchema = z.record(
  z.string().startsWith("!"),
  z.record(z.string().min(1).max(255), z.record(z.string().startsWith("@"), z.object({
    event_ids: z.array(z.string().startsWith("$")).min(1).max(100),
    data: z.looseObject({ ts: z.number().int().optional(), thread_id: z.string().max(255).optional() }).default({}),
  }).loose())),
);

export class ReceiptsHandler {
  constructor(private readonly store: ReceiptStore, private readonly now: () => number = Date.now) {}

  async onEdu(origin: string, content: unknown): Promise<void> {
    const edu = parseEdu(receiptSchema, content, "m.receipt");
    const rows: ReceiptRow[] = [];
    const now = this.now();
    for (const [roomId, byType] of Object.entries(edu)) {
      for (const [receiptType, byUser] of Object.entries(byType)) {
        for (const [userId, receipt] of Object.entries(byUser)) {
          assertOwnUser(origin, userId, "m.receipt");
          rows.push({ roomId, receiptType, userId, threadId: receipt.data.thread_id ?? "", eventIds: receipt.event_ids, data: receipt.data, updatedTs: now });
        }
      }
    }
    await this.store.upsert(rows);
  }
}
