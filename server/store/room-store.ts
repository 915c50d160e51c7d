/** Rooms known to this server, their room versions, directory visibility and our local aliases. */
import type { PrismaClient } from "./generated/client";

export interface RoomRow {
  roomId: string;
  roomVersion: string;
  createdTs: number;
  creator: string | null;
  isPublic: boolean;
}

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

  /**
   * Records a room; a room already known keeps what we had, unless `confirmed` (joining the room proved its version
   * and creator: an invite through the v1 API, which carries no version, had to guess).
   */
  async storeRoom(
    roomId: string, roomVersion: string, createdTs: number,
    details: { creator?: string; isPublic?: boolean; confirmed?: boolean } = {},
  ): Promise<void> {
    const row = await this.prisma.room.upsert({
      where: { roomId },
      create: { roomId, roomVersion, createdTs: BigInt(createdTs), creator: details.creator ?? null, isPublic: details.isPublic ?? false },
      update: details.confirmed ? { roomVersion, creator: details.creator ?? null } : {},
      select: { roomVersion: true },
    });
    this.versions.set(roomId, row.roomVersion);
  }

  async getRoom(roomId: string): Promise<RoomRow | null> {
    const row = await this.prisma.room.findUnique({ where: { roomId } });
    return row && toRoomRow(row);
  }

  async listRooms(options: { publicOnly?: boolean } = {}): Promise<RoomRow[]> {
    const rows = await this.prisma.room.findMany({ where: options.publicOnly ? { isPublic: true } : {}, orderBy: { createdTs: "asc" } });
    return rows.map(toRoomRow);
  }

  /** Adds a local alias; false when the alias is taken. */
  async createAlias(roomAlias: string, roomId: string, creator: string): Promise<boolean> {
    const result = await this.prisma.roomAlias.createMany({ data: [{ roomAlias, roomId, creator }], skipDuplicates: true });
    return result.count === 1;
  }

  async getAliasRoom(roomAlias: string): Promise<string | null> {
    const row = await this.prisma.roomAlias.findUnique({ where: { roomAlias } });
    return row?.roomId ?? null;
  }

  async aliasesOf(roomId: string): Promise<string[]> {
    const rows = await this.prisma.roomAlias.findMany({ where: { roomId }, orderBy: { roomAlias: "asc" } });
    return rows.map((r) => r.roomAlias);
  }
}

function toRoomRow(row: { roomId: string; roomVersion: string; createdTs: bigint; creator: string | null; isPublic: boolean }): RoomRow {
  return { ...row, createdTs: Number(row.createdTs) };
}
