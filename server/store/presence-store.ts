/** Remote users' presence, as their servers last reported it. */
import type { PrismaClient } from "./generated/client";

export interface PresenceState {
  userId: string;
  state: string;
  lastActiveAgo: number | null;
  statusMsg: string | null;
  currentlyActive: boolean;
  updatedTs: number;
}

export class PresenceStore {
  constructor(private readonly prisma: PrismaClient) {}

  async upsert(states: PresenceState[]): Promise<void> {
    await this.prisma.$transaction(states.map((s) => {
      const data = { ...s, lastActiveAgo: s.lastActiveAgo === null ? null : BigInt(s.lastActiveAgo), updatedTs: BigInt(s.updatedTs) };
      return this.prisma.presence.upsert({ where: { userId: s.userId }, create: data, update: data });
    }));
  }

  async get(userId: string): Promise<PresenceState | null> {
    const r = await this.prisma.presence.findUnique({ where: { userId } });
    return r && { ...r, lastActiveAgo: r.lastActiveAgo === null ? null : Number(r.lastActiveAgo), updatedTs: Number(r.updatedTs) };
  }
}
