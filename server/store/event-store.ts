/**
 * Events and the room DAG (Synapse's events, event_edges, event_auth, event_forward_extremities): reading events,
 * their auth chains and the walks other servers ask for (backfill, missing events), and persisting an event with
 * everything that changes with it in one database transaction. Writes are serialized: each event's
 * stream_ordering is assigned and committed in order, so a reader that has seen position N has seen all before.
 */
import { parsePdu, type Pdu, type StateMap } from "../events";
import { LruCache } from "../util/lru-cache";
import { Linearizer } from "../util/linearizer";
import type { PrismaClient } from "./generated/client";
import type { StateStore, Tx } from "./state-store";

export interface StoredEvent {
  eventId: string;
  roomId: string;
  streamOrdering: number;
  /** the PDU as servers exchange it (without `unsigned`) */
  pdu: Pdu;
  depth: number;
  outlier: boolean;
  rejectedReason: string | null;
  softFailed: boolean;
  sendOnBehalfOf: string | null;
  receivedTs: number;
}

/** What the events stream carries for each persisted event (the federation sender and replication read it). */
export interface PersistedEvent {
  streamOrdering: number;
  eventId: string;
  roomId: string;
  type: string;
  stateKey: string | null;
  sender: string;
  membership: string | null;
  redacts: string | null;
  relatesTo: string | null;
  outlier: boolean;
  rejected: boolean;
  softFailed: boolean;
  /** a remote server's membership event we relay to the room's other servers (never back to that server) */
  sendOnBehalfOf: string | null;
}

export interface EventWrite {
  eventId: string;
  roomId: string;
  pdu: Pdu;
  /** event IDs from prev_events and auth_events (with the v12 create event) */
  prevEventIds: string[];
  authEventIds: string[];
  outlier: boolean;
  rejectedReason: string | null;
  softFailed: boolean;
  sendOnBehalfOf: string | null;
  receivedTs: number;
}

/** How a timeline event changes the room's state. */
export interface TimelineWrite {
  /** the state after the event: an existing group (it changed nothing), or a new one built on `base` */
  stateGroup: { existing: number } | { base: number | null; state: StateMap<string> };
  /** for an accepted state event, the event it replaced in the state */
  replacesState: string | null;
  /** new forward extremities and current state; null when they do not change (rejected, soft-failed, backfilled) */
  room: { extremities: string[]; previousExtremities: string[]; previousState: StateMap<string>; state: StateMap<string> } | null;
}

interface EventRow {
  streamOrdering: bigint;
  receivedTs: bigint;
  eventId: string;
  roomId: string;
  depth: bigint;
  json: string;
  outlier: boolean;
  rejectedReason: string | null;
  softFailed: boolean;
  sendOnBehalfOf: string | null;
}

const EVENT_COLUMNS = {
  streamOrdering: true, receivedTs: true, eventId: true, roomId: true, depth: true, json: true, outlier: true, rejectedReason: true, softFailed: true, sendOnBehalfOf: true,
} as const;

function toStoredEvent(row: EventRow): StoredEvent {
  return { ...toStoredEventMeta(row), pdu: parsePdu(JSON.parse(row.json)) };
}

function toStoredEventMeta(row: EventRow): Omit<StoredEvent, "pdu"> {
  return {
    eventId: row.eventId,
    roomId: row.roomId,
    streamOrdering: Number(row.streamOrdering),
    depth: Number(row.depth),
    outlier: row.outlier,
    rejectedReason: row.rejectedReason,
    softFailed: row.softFailed,
    sendOnBehalfOf: row.sendOnBehalfOf,
    receivedTs: Number(row.receivedTs),
  };
}

/** Depth and timestamps as stored; v1–5 events may carry floats, which the columns cannot hold. */
function integerField(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? Math.trunc(value) : 0;
}

function stringField(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** The event's fields the events stream and the indexes need, read once from the PDU. */
function describe(pdu: Pdu): { type: string; stateKey: string | null; sender: string; membership: string | null; redacts: string | null; relatesTo: string | null } {
  const relation = pdu.content["m.relates_to"];
  return {
    type: pdu.type,
    stateKey: stringField(pdu.state_key),
    sender: stringField(pdu.sender) ?? "",
    membership: pdu.type === "m.room.member" ? stringField(pdu.content.membership) : null,
    // v11 moved `redacts` into the content; either place names the target.
    redacts: pdu.type === "m.room.redaction" ? stringField(pdu.content.redacts) ?? stringField(pdu.redacts) : null,
    relatesTo: typeof relation === "object" && relation !== null && !Array.isArray(relation) ? stringField(relation.event_id) : null,
  };
}

function toPersistedEvent(event: StoredEvent): PersistedEvent {
  return {
    streamOrdering: event.streamOrdering,
    eventId: event.eventId,
    roomId: event.roomId,
    ...describe(event.pdu),
    outlier: event.outlier,
    rejected: event.rejectedReason !== null,
    softFailed: event.softFailed,
    sendOnBehalfOf: event.sendOnBehalfOf,
  };
}

/** Interactive transactions default to 5 s; persisting a join into a big room writes its whole state. */
const TRANSACTION_OPTIONS = { timeout: 120_000, maxWait: 120_000 };

export class EventStore {
  private readonly cache = new LruCache<string, StoredEvent>(20_000);
  /** IDs a read found missing: an event about to be persisted is looked up twice, and only we write events */
  private readonly absent = new LruCache<string, true>(10_000);
  private writesCommitted = 0;
  /** forward extremities by room; this process is the only writer, so it keeps them current */
  private readonly extremities = new LruCache<string, string[]>(1000);
  private readonly writes = new Linearizer();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly state: StateStore,
    private readonly instanceName: string,
  ) {}

  async getEvent(eventId: string): Promise<StoredEvent | null> {
    return (await this.getEvents([eventId])).get(eventId) ?? null;
  }

  /** The events we hold among `eventIds` (rejected and outliers included). */
  async getEvents(eventIds: Iterable<string>): Promise<Map<string, StoredEvent>> {
    const result = new Map<string, StoredEvent>();
    const missing: string[] = [];
    for (const id of new Set(eventIds)) {
      const cached = this.cache.get(id);
      if (cached) result.set(id, cached);
      else if (!this.absent.has(id)) missing.push(id);
    }
    if (missing.length > 0) {
      const writesBefore = this.writesCommitted;
      const rows = await this.prisma.event.findMany({ where: { eventId: { in: missing } }, select: EVENT_COLUMNS });
      for (const row of rows) {
        const event = toStoredEvent(row);
        this.cache.set(event.eventId, event);
        result.set(event.eventId, event);
      }
      // A write that committed while we read may have added one of them: then remember nothing as absent.
      if (writesBefore === this.writesCommitted) for (const id of missing) if (!result.has(id)) this.absent.set(id, true);
    }
    return result;
  }

  /** A held event as the events stream describes it. */
  async getPersistedEvent(eventId: string): Promise<PersistedEvent | null> {
    const event = await this.getEvent(eventId);
    return event && toPersistedEvent(event);
  }

  /**
   * The newest accepted membership event of a user in a room that we hold, timeline or not: for rooms we are not
   * in, an invite we countersigned or a leave we sent is all we have.
   */
  async getLatestMembership(roomId: string, userId: string): Promise<StoredEvent | null> {
    const row = await this.prisma.event.findFirst({
      where: { roomId, type: "m.room.member", stateKey: userId, rejectedReason: null },
      orderBy: { streamOrdering: "desc" },
      select: EVENT_COLUMNS,
    });
    return row && toStoredEvent(row);
  }

  /** Which of these events we hold as part of a room's timeline (not outliers). */
  async haveTimelineEvents(eventIds: Iterable<string>): Promise<Set<string>> {
    const events = await this.getEvents(eventIds);
    return new Set([...events.values()].filter((e) => !e.outlier).map((e) => e.eventId));
  }

  /** The full auth chain of these events (IDs), not including the events themselves. */
  async getAuthChainIds(eventIds: Iterable<string>): Promise<Set<string>> {
    const ids = [...new Set(eventIds)];
    if (ids.length === 0) return new Set();
    const rows = await this.prisma.$queryRaw<Array<{ id: string }>>`
      WITH RECURSIVE chain(id) AS (
        SELECT auth_id FROM event_auth WHERE event_id = ANY(${ids}::text[])
        UNION
        SELECT a.auth_id FROM event_auth a JOIN chain c ON a.event_id = c.id
      )
      SELECT id FROM chain`;
    return new Set(rows.map((r) => r.id));
  }

  async getForwardExtremities(roomId: string): Promise<string[]> {
    const cached = this.extremities.get(roomId);
    if (cached) return [...cached];
    const rows = await this.prisma.eventForwardExtremity.findMany({ where: { roomId }, select: { eventId: true } });
    const ids = rows.map((r) => r.eventId).sort();
    this.extremities.set(roomId, ids);
    return [...ids];
  }

  /** Whether a timeline event already names `eventId` among its prev_events (it arrived late: not an extremity). */
  async isReferencedByTimeline(eventId: string): Promise<boolean> {
    const edges = await this.prisma.eventEdge.findMany({ where: { prevEventId: eventId }, select: { eventId: true } });
    if (edges.length === 0) return false;
    return (await this.haveTimelineEvents(edges.map((e) => e.eventId))).size > 0;
  }

  /** The lowest depth of the room's timeline events: how far back other servers need not go for us. */
  async minTimelineDepth(roomId: string): Promise<number> {
    const row = await this.prisma.event.findFirst({ where: { roomId, outlier: false }, orderBy: { depth: "asc" }, select: { depth: true } });
    return row ? Number(row.depth) : 0;
  }

  async maxStreamOrdering(): Promise<number> {
    const row = await this.prisma.event.findFirst({ orderBy: { streamOrdering: "desc" }, select: { streamOrdering: true } });
    return row ? Number(row.streamOrdering) : 0;
  }

  /** Persisted events after `streamOrdering`, oldest first (catch-up for the events stream's consumers). */
  async getEventsSince(streamOrdering: number, limit: number): Promise<PersistedEvent[]> {
    const rows = await this.prisma.event.findMany({
      where: { streamOrdering: { gt: BigInt(streamOrdering) } },
      orderBy: { streamOrdering: "asc" },
      take: limit,
      select: EVENT_COLUMNS,
    });
    return rows.map((row) => toPersistedEvent(toStoredEvent(row)));
  }

  /** The room's timeline, newest first: accepted events only (not rejected, soft-failed or outliers). */
  async getRoomMessages(roomId: string, limit: number): Promise<StoredEvent[]> {
    const rows = await this.prisma.event.findMany({
      where: { roomId, outlier: false, rejectedReason: null, softFailed: false },
      orderBy: [{ depth: "desc" }, { streamOrdering: "desc" }],
      take: limit,
      select: EVENT_COLUMNS,
    });
    return rows.map(toStoredEvent);
  }

  /** Timeline events of a room whose prev_events we lack in the timeline: where backfill continues from. */
  async getBackwardExtremities(roomId: string): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<Array<{ prev_event_id: string }>>`
      SELECT DISTINCT e.prev_event_id FROM event_edges e
      WHERE e.room_id = ${roomId}
        AND NOT EXISTS (SELECT 1 FROM events p WHERE p.event_id = e.prev_event_id AND NOT p.outlier)`;
    return rows.map((r) => r.prev_event_id).sort();
  }

  /** prev_events of timeline events, by event. */
  private async prevEdges(eventIds: string[]): Promise<Map<string, string[]>> {
    const rows = await this.prisma.eventEdge.findMany({ where: { eventId: { in: eventIds } }, select: { eventId: true, prevEventId: true } });
    const edges = new Map<string, string[]>();
    for (const row of rows) {
      const list = edges.get(row.eventId);
      if (list) list.push(row.prevEventId);
      else edges.set(row.eventId, [row.prevEventId]);
    }
    return edges;
  }

  /**
   * Backfill (Synapse get_backfill_events): from `fromIds` (included) back along prev_events, a generation of the
   * walk at a time, up to `limit` timeline events of the room, deepest first.
   */
  async getBackfillEvents(roomId: string, fromIds: string[], limit: number): Promise<StoredEvent[]> {
    const found = new Map<string, StoredEvent>();
    let frontier = [...new Set(fromIds)];
    while (frontier.length > 0 && found.size < limit) {
      const events = [...(await this.getEvents(frontier)).values()].filter((e) => e.roomId === roomId && !e.outlier && !found.has(e.eventId));
      for (const event of events) found.set(event.eventId, event);
      const edges = await this.prevEdges(events.map((e) => e.eventId));
      frontier = [...new Set([...edges.values()].flat())].filter((id) => !found.has(id));
    }
    return [...found.values()].sort((a, b) => b.depth - a.depth || b.streamOrdering - a.streamOrdering).slice(0, limit);
  }

  /**
   * get_missing_events (Synapse _get_missing_events): walk back from `latest` along prev_events, stopping at
   * `earliest`, collecting up to `limit` events at or above `minDepth`, oldest first.
   */
  async getMissingEvents(roomId: string, earliest: string[], latest: string[], limit: number, minDepth: number): Promise<StoredEvent[]> {
    const seen = new Set([...earliest, ...latest]);
    const collected: string[] = [];
    let front = latest.filter((id) => !earliest.includes(id));
    while (front.length > 0 && collected.length < limit) {
      const edges = await this.prevEdges(front);
      const next: string[] = [];
      for (const id of front) {
        for (const prev of edges.get(id) ?? []) {
          if (seen.has(prev) || collected.length >= limit) continue;
          seen.add(prev);
          collected.push(prev);
          next.push(prev);
        }
      }
      front = next;
    }
    const events = await this.getEvents(collected);
    return collected
      .map((id) => events.get(id))
      .filter((e): e is StoredEvent => e !== undefined && e.roomId === roomId && !e.outlier && e.depth >= minDepth)
      .sort((a, b) => a.depth - b.depth || a.streamOrdering - b.streamOrdering);
  }

  /**
   * Persists one event and, for a timeline event, its state group, forward extremities and the room's current
   * state, in one transaction. An event held only as an outlier is written again as a timeline event (with a new
   * stream position, as Synapse de-outliers); any other event already held is returned unchanged.
   */
  async persistEvent(write: EventWrite, timeline: TimelineWrite | null): Promise<{ event: PersistedEvent; stored: boolean }> {
    return this.writes.run("events", async () => {
      const existing = await this.getEvent(write.eventId);
      if (existing && !(existing.outlier && timeline !== null)) return { event: toPersistedEvent(existing), stored: false };
      let committedGroup: { group: number; deltaDepth: number; state: StateMap<string> } | undefined;
      let eventGroup: { group: number; replacesState: string | null } | undefined;
      const row = await this.prisma.$transaction(async (tx) => {
        if (existing) {
          await tx.event.deleteMany({ where: { eventId: write.eventId } });
          await tx.eventToStateGroup.deleteMany({ where: { eventId: write.eventId } });
        }
        const inserted = await this.insertEventRow(tx, write);
        if (timeline) {
          if (write.prevEventIds.length > 0) {
            await tx.eventEdge.createMany({
              data: write.prevEventIds.map((prevEventId) => ({ eventId: write.eventId, prevEventId, roomId: write.roomId })),
              skipDuplicates: true,
            });
          }
          let group: number;
          if ("existing" in timeline.stateGroup) {
            group = timeline.stateGroup.existing;
          } else {
            const written = await this.state.writeStateGroup(tx, write.roomId, write.eventId, timeline.stateGroup.base, timeline.stateGroup.state);
            group = written.group;
            committedGroup = { ...written, state: timeline.stateGroup.state };
          }
          await tx.eventToStateGroup.create({ data: { eventId: write.eventId, stateGroup: BigInt(group), replacesState: timeline.replacesState } });
          eventGroup = { group, replacesState: timeline.replacesState };
          if (timeline.room) {
            const { extremities, previousExtremities } = timeline.room;
            const removed = previousExtremities.filter((id) => !extremities.includes(id));
            const added = extremities.filter((id) => !previousExtremities.includes(id));
            if (removed.length > 0) await tx.eventForwardExtremity.deleteMany({ where: { roomId: write.roomId, eventId: { in: removed } } });
            if (added.length > 0) {
              await tx.eventForwardExtremity.createMany({ data: added.map((eventId) => ({ roomId: write.roomId, eventId })), skipDuplicates: true });
            }
            await this.state.writeCurrentState(tx, write.roomId, timeline.room.previousState, timeline.room.state);
          }
        }
        return inserted;
      }, TRANSACTION_OPTIONS);
      this.writesCommitted++;
      if (committedGroup) this.state.noteGroupCommitted(committedGroup.group, committedGroup.deltaDepth, committedGroup.state);
      if (eventGroup) this.state.noteEventGroupCommitted(write.eventId, eventGroup);
      if (timeline?.room) {
        this.state.noteCurrentStateCommitted(write.roomId, timeline.room.state);
        this.extremities.set(write.roomId, [...timeline.room.extremities].sort());
      }
      const stored = { ...toStoredEventMeta(row), pdu: write.pdu };
      this.absent.delete(stored.eventId);
      this.cache.set(stored.eventId, stored);
      return { event: toPersistedEvent(stored), stored: true };
    });
  }

  /** Persists events that are not part of the timeline (auth chains, state fetched from other servers) at once. */
  async persistOutliers(writes: EventWrite[]): Promise<PersistedEvent[]> {
    if (writes.length === 0) return [];
    return this.writes.run("events", async () => {
      const known = await this.getEvents(writes.map((w) => w.eventId));
      const fresh = writes.filter((w, i) => !known.has(w.eventId) && writes.findIndex((o) => o.eventId === w.eventId) === i);
      if (fresh.length === 0) return [];
      const rows = await this.prisma.$transaction(async (tx) => {
        // One statement for all rows; stream orderings follow the order of the batch (its auth order).
        const inserted = await tx.event.createManyAndReturn({ data: fresh.map((write) => this.eventRow(write)), select: EVENT_COLUMNS });
        await this.insertAuthEdges(tx, fresh);
        return inserted;
      }, TRANSACTION_OPTIONS);
      this.writesCommitted++;
      const pdus = new Map(fresh.map((write) => [write.eventId, write.pdu]));
      return rows.sort((a, b) => Number(a.streamOrdering - b.streamOrdering)).map((row) => {
        const stored = { ...toStoredEventMeta(row), pdu: pdus.get(row.eventId)! };
        this.absent.delete(stored.eventId);
        this.cache.set(stored.eventId, stored);
        return toPersistedEvent(stored);
      });
    });
  }

  /** The events table row of an event. */
  private eventRow(write: EventWrite) {
    const { pdu } = write;
    const fields = describe(pdu);
    return {
      eventId: write.eventId,
      roomId: write.roomId,
      type: fields.type,
      stateKey: fields.stateKey,
      sender: fields.sender,
      membership: fields.membership,
      depth: BigInt(integerField(pdu.depth)),
      originServerTs: BigInt(integerField(pdu.origin_server_ts)),
      receivedTs: BigInt(write.receivedTs),
      json: JSON.stringify(pdu),
      outlier: write.outlier,
      rejectedReason: write.rejectedReason,
      softFailed: write.softFailed,
      instanceName: this.instanceName,
      sendOnBehalfOf: write.sendOnBehalfOf,
    };
  }

  private async insertAuthEdges(tx: Tx, writes: EventWrite[]): Promise<void> {
    const data = writes.flatMap((write) => write.authEventIds.map((authId) => ({ eventId: write.eventId, authId, roomId: write.roomId })));
    if (data.length > 0) await tx.eventAuth.createMany({ data, skipDuplicates: true });
  }

  private async insertEventRow(tx: Tx, write: EventWrite): Promise<EventRow> {
    const row = await tx.event.create({ data: this.eventRow(write), select: EVENT_COLUMNS });
    await this.insertAuthEdges(tx, [write]);
    return row;
  }
}
