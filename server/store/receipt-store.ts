/** Read receipts: the newest per (room, receipt type, user, thread). */
import type { PrismaClient } from "./generated/client";

export interface ReceiptRow {
  roomId: string;
  receiptType: string;
  userId: string;
  threadId: string;
  eventIds: string[];
  data: Record<string, unknown>;
  updatedTs: number;
}

export class ReceiptStore {
  constructor(private readonly prisma: PrismaClient) {}

  async upsert(receipts: ReceiptRow[]): Promise<void> {
    await this.prisma.$transaction(receipts.map((r) => {
      const data = { ...r, eventIds: JSON.stringify(r.eventIds), data: JSON.stringify(r.data), updatedTs: BigInt(r.updatedTs) };
      const key = { roomId: r.roomId, receiptType: r.receiptType, userId: r.userId, threadId: r.threadId };
      return this.prisma.receipt.upsert({ where: { roomId_receiptType_userId_threadId: key }, create: data, update: data });
    }));
  }

  async forRoom(roomId: string): Promise<ReceiptRow[]> {
    const rows = await this.prisma.receipt.findMany({ where: { roomId }, orderBy: { userId: "asc" } });
    return rows.map((r) => ({ ...r, eventIds: JSON.parse(r.eventIds) as string[], data: JSON.parse(r.data) as Record<string, unknown>, updatedTs: Number(r.updatedTs) }));
  }
}
