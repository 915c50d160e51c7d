/**
 * Which rooms' PDUs each destination should have (table destination_rooms, Synapse's): the newest stream_ordering
 * per (destination, room). With destinations.last_successful_stream_ordering it tells what a destination missed,
 * which is what catch-up sends after an outage or a restart.
 */
import { Prisma, type PrismaClient } from "./generated/client";

export interface DestinationRoomEntry {
  destination: string;
  roomId: string;
  streamOrdering: number;
}

export interface CatchUpEvent {
  eventId: string;
  roomId: string;
  streamOrdering: number;
}

/** Synapse's get_catch_up_room_event_ids: rooms are caught up 50 at a time. */
export const CATCH_UP_ROOMS_PER_QUERY = 50;
/** Synapse's get_catch_up_outstanding_destinations: destinations are found 25 at a time. */
export const OUTSTANDING_DESTINATIONS_PER_QUERY = 25;

export class DestinationRoomStore {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Records that each destination should have the PDU at `streamOrdering` in its room (many entries in one
   * statement), creating the destinations rows as Synapse's store_destination_rooms_entries does, and raising
   * their newest_room_stream_ordering. An entry never moves backwards, so batches written out of order keep the
   * newest. Rows are locked in name order, as setLastSuccessfulStreamOrderings does, so the two cannot deadlock.
   */
  async storeEntries(entries: readonly DestinationRoomEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const destinations = entries.map((e) => e.destination);
    const rooms = entries.map((e) => e.roomId);
    const orderings = entries.map((e) => BigInt(e.streamOrdering));
    await this.prisma.$transaction([
      this.prisma.$executeRaw`
        INSERT INTO destinations (destination, newest_room_stream_ordering)
        SELECT destination, MAX(stream_ordering) FROM unnest(${destinations}::text[], ${orderings}::bigint[]) AS e(destination, stream_ordering)
        GROUP BY destination ORDER BY destination
        ON CONFLICT (destination) DO UPDATE
          SET newest_room_stream_ordering = GREATEST(destinations.newest_room_stream_ordering, EXCLUDED.newest_room_stream_ordering)`,
      this.prisma.$executeRaw`
        INSERT INTO destination_rooms (destination, room_id, stream_ordering)
        SELECT * FROM unnest(${destinations}::text[], ${rooms}::text[], ${orderings}::bigint[])
        ON CONFLICT (destination, room_id) DO UPDATE
          SET stream_ordering = GREATEST(destination_rooms.stream_ordering, EXCLUDED.stream_ordering)`,
    ]);
  }

  /**
   * The oldest rooms (by their newest PDU) the destination has not acknowledged: entries after
   * `afterStreamOrdering`, and at most `upToStreamOrdering` when given, joined with the events they name.
   */
  async getCatchUpRoomEvents(destination: string, afterStreamOrdering: number, upToStreamOrdering: number | null): Promise<CatchUpEvent[]> {
    const upTo = upToStreamOrdering === null ? null : BigInt(upToStreamOrdering);
    const rows = await this.prisma.$queryRaw<{ event_id: string; room_id: string; stream_ordering: bigint }[]>`
      SELECT e.event_id, dr.room_id, dr.stream_ordering
      FROM destination_rooms dr JOIN events e ON e.stream_ordering = dr.stream_ordering
      WHERE dr.destination = ${destination}
        AND dr.stream_ordering > ${BigInt(afterStreamOrdering)}
        AND (${upTo}::bigint IS NULL OR dr.stream_ordering <= ${upTo}::bigint)
      ORDER BY dr.stream_ordering
      LIMIT ${CATCH_UP_ROOMS_PER_QUERY}`;
    return rows.map((r) => ({ eventId: r.event_id, roomId: r.room_id, streamOrdering: Number(r.stream_ordering) }));
  }

  /**
   * Destinations with work that outlived the process that queued it and that may be tried at `nowMs`, in name
   * order after `afterDestination`: PDUs they have not acknowledged (Synapse's
   * get_catch_up_outstanding_destinations; a destination that never acknowledged one counts from the start) and
   * to-device or device-list EDUs waiting in the outbox tables.
   */
  async getOutstandingDestinations(afterDestination: string | null, nowMs: number): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<{ destination: string }[]>`
      SELECT destination FROM (${outstandingDestinations(nowMs)}) w
      WHERE destination > ${afterDestination ?? ""}
      ORDER BY destination
      LIMIT ${OUTSTANDING_DESTINATIONS_PER_QUERY}`;
    return rows.map((r) => r.destination);
  }

  /** How many destinations getOutstandingDestinations would walk through now (to pace the walk). */
  async countOutstandingDestinations(nowMs: number): Promise<number> {
    const [row] = await this.prisma.$queryRaw<{ n: bigint }[]>`SELECT COUNT(*) AS n FROM (${outstandingDestinations(nowMs)}) w`;
    return Number(row?.n ?? 0n);
  }

  /**
   * Destinations owed PDUs up to `upToStreamOrdering` (by an earlier process): the ones whose queues must check
   * for catch-up at start-up, whatever their backoff.
   */
  async getDestinationsBehind(upToStreamOrdering: number): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<{ destination: string }[]>`
      SELECT DISTINCT dr.destination FROM destination_rooms dr LEFT JOIN destinations d USING (destination)
      WHERE dr.stream_ordering > COALESCE(d.last_successful_stream_ordering, 0)
        AND dr.stream_ordering <= ${BigInt(upToStreamOrdering)}`;
    return rows.map((r) => r.destination);
  }

  /** One page of the destination's rooms ordered by room ID (Synapse's get_destination_rooms_paginate). */
  async paginateRooms(destination: string, start: number, limit: number, direction: "f" | "b"): Promise<{ rooms: { roomId: string; streamOrdering: number }[]; total: number }> {
    const [total, rows] = await Promise.all([
      this.prisma.destinationRoom.count({ where: { destination } }),
      this.prisma.destinationRoom.findMany({
        where: { destination }, orderBy: { roomId: direction === "b" ? "desc" : "asc" }, skip: start, take: limit,
      }),
    ]);
    return { rooms: rows.map((r) => ({ roomId: r.roomId, streamOrdering: Number(r.streamOrdering) })), total };
  }
}

/** The destinations with outstanding work (see getOutstandingDestinations) that are not backing off at `nowMs`. */
function outstandingDestinations(nowMs: number): Prisma.Sql {
  return Prisma.sql`
    SELECT w.destination FROM (
      SELECT DISTINCT dr.destination FROM destination_rooms dr JOIN destinations d USING (destination)
        WHERE dr.stream_ordering > COALESCE(d.last_successful_stream_ordering, 0)
      UNION SELECT destination FROM device_federation_outbox
      UNION SELECT destination FROM device_lists_outbound_pokes WHERE NOT sent
    ) w
    LEFT JOIN destinations t USING (destination)
    WHERE t.retry_last_ts IS NULL OR t.retry_interval IS NULL OR t.retry_interval = 0
      OR t.retry_last_ts + t.retry_interval <= ${BigInt(nowMs)}`;
}
