/**
 * The events stream as replication carries it: one `ev` row per persisted event, read back by stream position so
 * a worker that missed rows can fetch them from `main` (Synapse: get_all_new_forward_event_rows).
 */
import type { PrismaClient } from "./generated/client";

export interface EventStreamRow {
  streamOrdering: number;
  eventId: string;
  roomId: string;
  type: string;
  stateKey: string | null;
  redacts: string | null;
  relatesTo: string | null;
  membership: string | null;
  rejected: boolean;
  outlier: boolean;
}

export class EventsStreamStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** Rows with from < stream_ordering ≤ upto, oldest first, at most `limit`. */
  async rowsBetween(from: number, upto: number, limit: number): Promise<EventStreamRow[]> {
    const rows = await this.prisma.event.findMany({
      where: { streamOrdering: { gt: BigInt(from), lte: BigInt(upto) } },
      orderBy: { streamOrdering: "asc" },
      take: limit,
      select: { streamOrdering: true, eventId: true, roomId: true, type: true, stateKey: true, json: true, rejectedReason: true, outlier: true },
    });
    return rows.map((r) => {
      const pdu = JSON.parse(r.json) as { redacts?: unknown; content?: { redacts?: unknown; membership?: unknown; "m.relates_to"?: { event_id?: unknown } } };
      const redacts = pdu.redacts ?? pdu.content?.redacts;
      const relatesTo = pdu.content?.["m.relates_to"]?.event_id;
      const membership = r.type === "m.room.member" ? pdu.content?.membership : undefined;
      return {
        streamOrdering: Number(r.streamOrdering), eventId: r.eventId, roomId: r.roomId, type: r.type, stateKey: r.stateKey,
        redacts: typeof redacts === "string" ? redacts : null,
        relatesTo: typeof relatesTo === "string" ? relatesTo : null,
        membership: typeof membership === "string" ? membership : null,
        rejected: r.rejectedReason !== null, outlier: r.outlier,
      };
    });
  }

  async maxStreamOrdering(): Promise<number> {
    const r = await this.prisma.event.aggregate({ _max: { streamOrdering: true } });
    return Number(r._max.streamOrdering ?? 0n);
  }
}
