/**
 * The persisted per-room staging area for PDUs received over federation. A PDU is acknowledged to its sender
 * only once it is here; the room's worker removes it only after the event is persisted.
 */
import { bulkInsert } from "./bulk-insert";
import type { PrismaClient } from "./generated/client";

export interface StagedEvent {
  id: number;
  origin: string;
  roomId: string;
  eventId: string;
  receivedTs: number;
  eventJson: string;
  redacted: boolean;
}

export class StagingStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** Stages PDUs in the order given (a transaction's, at once); events already waiting are left as they are. */
  async stage(events: Array<Omit<StagedEvent, "id">>): Promise<void> {
    await bulkInsert(this.prisma, {
      table: "federation_inbound_events_staging",
      columns: { origin: "text", room_id: "text", event_id: "text", received_ts: "bigint", event_json: "text", redacted: "boolean" },
      rows: events, values: (e) => [e.origin, e.roomId, e.eventId, e.receivedTs, e.eventJson, e.redacted], skipDuplicates: true,
    });
  }

  /** The oldest staged events of a room, in arrival order. */
  async next(roomId: string, limit: number): Promise<StagedEvent[]> {
    const rows = await this.prisma.inboundStagedEvent.findMany({ where: { roomId }, orderBy: { id: "asc" }, take: limit });
    return rows.map((r) => ({ ...r, id: Number(r.id), receivedTs: Number(r.receivedTs) }));
  }

  async remove(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.prisma.inboundStagedEvent.deleteMany({ where: { id: { in: ids.map(BigInt) } } });
  }

  /** Rooms with staged events, e.g. to restart their workers after a restart. */
  async roomsWithStagedEvents(): Promise<string[]> {
    const rows = await this.prisma.inboundStagedEvent.findMany({ distinct: ["roomId"], select: { roomId: true } });
    return rows.map((r) => r.roomId);
  }

  async countByRoom(): Promise<Map<string, number>> {
    const rows = await this.prisma.inboundStagedEvent.groupBy({ by: ["roomId"], _count: { id: true } });
    return new Map(rows.map((r) => [r.roomId, r._count.id]));
  }
}
