/** Rooms known to this server and their room versions. */
import type { PrismaClient } from "./generated/client";

export class RoomStore {
  private readonly versions = new Map<string, string>();

  constructor(private readonly prisma: PrismaClient) {}

  /** The room's version, or null for a room we do not know. Cached: a room's version never changes. */
  async getRoomVersion(roomId: string): Promise<string | null> {
    const cached = this.versions.get(roomId);
    if (cached) return cached;
    const row = await this.prisma.room.findUnique({ where: { roomId }, select: { roomVersion: true } });
    if (row) this.versions.set(roomId, row.roomVersion);
    return row?.roomVersion ?? null;
  }

  async storeRoom(roomId: string, roomVersion: string, createdTs: number): Promise<void> {
    await this.prisma.room.upsert({ where: { roomId }, create: { roomId, roomVersion, createdTs: BigInt(createdTs) }, update: {} });
    this.versions.set(roomId, roomVersion);
  }
}
