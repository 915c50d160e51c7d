/** To-device messages received over federation for local devices, delivered once per (origin, message_id). */
import type { PrismaClient } from "./generated/client";

export interface InboxMessage {
  userId: string;
  deviceId: string;
  sender: string;
  messageType: string;
  content: string;
}

export class DeviceInboxStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** Stores the messages of one EDU unless (origin, messageId) was already taken; returns whether stored. */
  async deliver(origin: string, messageId: string, messages: InboxMessage[], now: number): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const seen = await tx.deviceFederationInbox.createMany({ data: [{ origin, messageId, receivedTs: BigInt(now) }], skipDuplicates: true });
      if (seen.count === 0) return false;
      await tx.deviceInboxMessage.createMany({ data: messages.map((m) => ({ ...m, receivedTs: BigInt(now) })) });
      return true;
    });
  }

  async messagesFor(userId: string, deviceId: string, limit = 100): Promise<InboxMessage[]> {
    const rows = await this.prisma.deviceInboxMessage.findMany({ where: { userId, deviceId }, orderBy: { streamId: "asc" }, take: limit });
    return rows.map(({ userId: u, deviceId: d, sender, messageType, content }) => ({ userId: u, deviceId: d, sender, messageType, content }));
  }
}
