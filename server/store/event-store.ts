/**
 * Events and the room DAG (Synapse's events, event_edges, event_auth, event_forward_extremities): reading events,
 * their auth chains and the walks other servers ask for (backfill, missing events), and persisting an event with
 * everything that changes with it in one database transaction. Writes are serialized: each event's
 * stream_ordering is assigned and committed in order, so a reader that has seen position N has seen all before.
 */
import { LRUCache } from "lru-cache";
import { parsePdu, type Pdu, type StateMap } from "../events";
import { Linearizer } from "../util/linearizer";
import { bulkInsert, bulkInsertReturning } from "./bulk-insert";
import { EventBatch, type OpenBatches, type QueuedEvent } from "./event-batch";
import type { PrismaClient } from "./generated/client";
import type { StateGroupOfEvent, StateStore, Tx } from "./state-store";

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

/** A written (or queued) event as reads return it. */
function storedOf(write: EventWrite, streamOrdering: number): StoredEvent {
  return {
    eventId: write.eventId, roomId: write.roomId, streamOrdering, pdu: write.pdu, depth: integerField(write.pdu.depth), outlier: write.outlier,
    rejectedReason: write.rejectedReason, softFailed: write.softFailed, sendOnBehalfOf: write.sendOnBehalfOf, receivedTs: write.receivedTs,
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

/** The state group after a queued event: the new one it planned, or its prev event's it shares. */
function stateGroupOf({ timeline, group }: Pick<QueuedEvent, "timeline" | "group">): StateGroupOfEvent {
  return { group: group?.id ?? (timeline.stateGroup as { existing: number }).existing, replacesState: timeline.replacesState };
}

/** Interactive transactions default to 5 s; persisting a join into a big room writes its whole state. */
const TRANSACTION_OPTIONS = { timeout: 120_000, maxWait: 120_000 };

export class EventStore {
  private readonly cache = new LRUCache<string, StoredEvent>({ max: 20_000 });
  /** IDs a read found missing: an event about to be persisted is looked up twice, and only we write events */
  private readonly absent = new LRUCache<string, true>({ max: 10_000 });
  private writesCommitted = 0;
  /** forward extremities by room; this process is the only writer, so it keeps them current */
  private readonly extremities = new LRUCache<string, string[]>({ max: 1000 });
  /** events some timeline event names as a prev event (true), or that none did when last read (false) */
  private readonly cited = new LRUCache<string, boolean>({ max: 10_000 });
  private readonly writes = new Linearizer();

  /** `batches`: timeline events queued but not yet written, which reads see before the database */
  constructor(
    private readonly prisma: PrismaClient,
    private readonly state: StateStore,
    private readonly instanceName: string,
    private readonly batches: OpenBatches,
  ) {}

  async getEvent(eventId: string): Promise<StoredEvent | null> {
    return (await this.getEvents([eventId])).get(eventId) ?? null;
  }

  /** The events we hold among `eventIds` (rejected and outliers included). */
  async getEvents(eventIds: Iterable<string>): Promise<Map<string, StoredEvent>> {
    const result = new Map<string, StoredEvent>();
    const missing: string[] = [];
    for (const id of new Set(eventIds)) {
      const cached = this.batches.event(id) ?? this.cache.get(id);
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
    // Queued events' auth edges are not in the database yet: walk them here, and from the stored ones there.
    const chain = new Set<string>();
    let frontier = [...new Set(eventIds)];
    const stored: string[] = [];
    while (frontier.length > 0) {
      const queued = this.batches.queuedAuthEvents(frontier);
      const next: string[] = [];
      for (const id of frontier) {
        const authIds = queued.get(id);
        if (!authIds) {
          stored.push(id);
          continue;
        }
        for (const authId of authIds) if (!chain.has(authId)) chain.add(authId), next.push(authId);
      }
      frontier = next;
    }
    for (const id of await this.storedAuthChainIds(stored)) chain.add(id);
    return chain;
  }

  private async storedAuthChainIds(eventIds: string[]): Promise<Set<string>> {
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
    const cached = this.batches.forRoom(roomId)?.after?.extremities ?? this.extremities.get(roomId);
    if (cached) return [...cached];
    const rows = await this.prisma.eventForwardExtremity.findMany({ where: { roomId }, select: { eventId: true } });
    const ids = rows.map((r) => r.eventId).sort();
    this.extremities.set(roomId, ids);
    return [...ids];
  }

  /** Whether a timeline event already names `eventId` among its prev_events (it arrived late: not an extremity). */
  async isReferencedByTimeline(eventId: string): Promise<boolean> {
    if (this.batches.isPrevOfQueued(eventId)) return true;
    const cited = this.cited.get(eventId);
    if (cited !== undefined) return cited;
    await this.loadCited([eventId]);
    return this.cited.get(eventId) ?? false;
  }

  /**
   * Reads ahead what checking these new events will ask (are they held, does a timeline event cite them) in two
   * queries, instead of two per event: the staging worker calls it for each batch it takes.
   */
  async prefetch(eventIds: string[]): Promise<void> {
    await this.getEvents(eventIds);
    await this.loadCited(eventIds.filter((id) => !this.cited.has(id)));
  }

  private async loadCited(eventIds: string[]): Promise<void> {
    if (eventIds.length === 0) return;
    const writesBefore = this.writesCommitted;
    const edges = await this.prisma.eventEdge.findMany({ where: { prevEventId: { in: eventIds } }, select: { eventId: true, prevEventId: true } });
    const timeline = await this.haveTimelineEvents(edges.map((e) => e.eventId));
    const cited = new Set(edges.filter((e) => timeline.has(e.eventId)).map((e) => e.prevEventId));
    for (const id of eventIds) {
      if (cited.has(id)) this.cited.set(id, true);
      // as for `absent`: a write committed meanwhile may have cited it
      else if (writesBefore === this.writesCommitted) this.cited.set(id, false);
    }
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

  /** Opens the room's batch of queued events (see EventBatch); `closeBatch` forgets what it did not commit. */
  openBatch(roomId: string): EventBatch {
    return this.batches.open(roomId);
  }

  closeBatch(batch: EventBatch): void {
    this.batches.close(batch);
  }

  /** The room's open batch, or a new one only the caller holds (written at its commit, seen by no read before). */
  batchFor(roomId: string): EventBatch {
    return this.batches.forRoom(roomId) ?? new EventBatch(roomId);
  }

  /**
   * Queues a timeline event into `batch` (the caller holds the room's lock): from now on reads see it, its state
   * group, and the room's new extremities and current state. Returns the event as already held instead when it is
   * (a timeline event, stored or queued); an event held only as an outlier is written again as a timeline event
   * (with a new stream position, as Synapse de-outliers).
   */
  async queueEvent(batch: EventBatch, write: EventWrite, timeline: TimelineWrite): Promise<PersistedEvent | null> {
    if (batch.failure) throw new Error(`an earlier write of room ${batch.roomId}'s events failed: ${batch.failure.message}`);
    const existing = await this.getEvent(write.eventId);
    if (existing && !existing.outlier) return toPersistedEvent(existing);
    const group = "existing" in timeline.stateGroup
      ? null
      : await this.state.planStateGroup(write.roomId, write.eventId, timeline.stateGroup.base, timeline.stateGroup.state);
    const entry = { write, timeline, group, replacesOutlier: existing !== null };
    batch.queued.push(entry);
    // not in the stream yet: a position of 0 keeps it out of any "newer than" question until it is
    batch.events.set(write.eventId, storedOf(write, 0));
    if (group) batch.groups.set(group.id, group);
    batch.eventGroups.set(write.eventId, stateGroupOf(entry));
    if (timeline.room) {
      batch.before ??= { extremities: timeline.room.previousExtremities, state: timeline.room.previousState };
      batch.after = { extremities: [...timeline.room.extremities].sort(), state: timeline.room.state };
    }
    return null;
  }

  /**
   * Writes the events queued in `batch` in one transaction, each with its edges and state group, and the room's
   * forward extremities and current state as the last of them left them. Returns them in stream order. When the
   * write fails, the queued events are dropped and the batch refuses further events (they would build on them).
   */
  async commitBatch(batch: EventBatch): Promise<PersistedEvent[]> {
    return this.writes.run("events", async () => {
      if (batch.failure) throw new Error(`an earlier write of room ${batch.roomId}'s events failed: ${batch.failure.message}`);
      if (batch.queued.length === 0) return [];
      const queued = [...batch.queued];
      let orderings: Map<string, number>;
      try {
        orderings = await this.prisma.$transaction((tx) => this.writeQueued(tx, batch, queued), TRANSACTION_OPTIONS);
      } catch (e) {
        batch.failure = e as Error;
        batch.clear();
        throw e;
      }
      const { after } = batch;
      batch.clear();
      this.writesCommitted++;
      for (const { write, timeline, group } of queued) {
        if (group) this.state.noteGroupCommitted(group.id, group.deltaDepth, group.state);
        this.state.noteEventGroupCommitted(write.eventId, stateGroupOf({ timeline, group }));
        for (const prev of write.prevEventIds) this.cited.set(prev, true);
      }
      if (after) {
        this.state.noteCurrentStateCommitted(batch.roomId, after.state);
        this.extremities.set(batch.roomId, after.extremities);
      }
      return this.cacheWritten(queued.map((q) => q.write), orderings);
    });
  }

  private async writeQueued(tx: Tx, batch: EventBatch, queued: QueuedEvent[]): Promise<Map<string, number>> {
    const writes = queued.map((q) => q.write);
    const outliers = queued.filter((q) => q.replacesOutlier).map((q) => q.write.eventId);
    if (outliers.length > 0) await tx.event.deleteMany({ where: { eventId: { in: outliers } } });
    const orderings = await this.insertEvents(tx, writes);
    await bulkInsert(tx, {
      table: "event_edges", columns: { event_id: "text", prev_event_id: "text", room_id: "text" }, skipDuplicates: true,
      rows: writes.flatMap((w) => w.prevEventIds.map((prev) => [w.eventId, prev, w.roomId] as const)), values: (row) => row,
    });
    await this.state.writeStateGroups(tx, queued.flatMap((q) => (q.group ? [q.group] : [])));
    await bulkInsert(tx, {
      table: "event_to_state_groups", columns: { event_id: "text", state_group: "bigint", replaces_state: "text" },
      rows: queued, values: (q) => [q.write.eventId, stateGroupOf(q).group, q.timeline.replacesState],
    });
    const { before, after } = batch;
    if (before && after) {
      const removed = before.extremities.filter((id) => !after.extremities.includes(id));
      const added = after.extremities.filter((id) => !before.extremities.includes(id));
      if (removed.length > 0) await tx.eventForwardExtremity.deleteMany({ where: { roomId: batch.roomId, eventId: { in: removed } } });
      if (added.length > 0) await tx.eventForwardExtremity.createMany({ data: added.map((eventId) => ({ roomId: batch.roomId, eventId })), skipDuplicates: true });
      await this.state.writeCurrentState(tx, batch.roomId, before.state, after.state);
    }
    return orderings;
  }

  /** Caches freshly written events and returns them in stream order, as the events stream describes them. */
  private cacheWritten(writes: EventWrite[], orderings: Map<string, number>): PersistedEvent[] {
    return writes.map((write) => storedOf(write, orderings.get(write.eventId)!)).sort((a, b) => a.streamOrdering - b.streamOrdering).map((stored) => {
      this.absent.delete(stored.eventId);
      this.cache.set(stored.eventId, stored);
      return toPersistedEvent(stored);
    });
  }

  /** Persists events that are not part of the timeline (auth chains, state fetched from other servers) at once. */
  async persistOutliers(writes: EventWrite[]): Promise<PersistedEvent[]> {
    if (writes.length === 0) return [];
    return this.writes.run("events", async () => {
      const known = await this.getEvents(writes.map((w) => w.eventId));
      const fresh = writes.filter((w, i) => !known.has(w.eventId) && writes.findIndex((o) => o.eventId === w.eventId) === i);
      if (fresh.length === 0) return [];
      // stream orderings follow the order of the batch (its auth order)
      const orderings = await this.prisma.$transaction((tx) => this.insertEvents(tx, fresh), TRANSACTION_OPTIONS);
      this.writesCommitted++;
      return this.cacheWritten(fresh, orderings);
    });
  }

  /** Inserts the events' rows, in order, and their auth edges; returns each event's stream ordering. */
  private async insertEvents(tx: Tx, writes: EventWrite[]): Promise<Map<string, number>> {
    const rows = await bulkInsertReturning<EventWrite, { stream_ordering: bigint; event_id: string }>(tx, {
      table: "events",
      columns: {
        event_id: "text", room_id: "text", type: "text", state_key: "text", sender: "text", membership: "text", depth: "bigint",
        origin_server_ts: "bigint", received_ts: "bigint", json: "text", outlier: "boolean", rejected_reason: "text",
        soft_failed: "boolean", instance_name: "text", send_on_behalf_of: "text",
      },
      rows: writes,
      values: (write) => {
        const { pdu } = write;
        const fields = describe(pdu);
        return [
          write.eventId, write.roomId, fields.type, fields.stateKey, fields.sender, fields.membership, integerField(pdu.depth),
          integerField(pdu.origin_server_ts), write.receivedTs, JSON.stringify(pdu), write.outlier, write.rejectedReason,
          write.softFailed, this.instanceName, write.sendOnBehalfOf,
        ];
      },
    }, "stream_ordering, event_id");
    await bulkInsert(tx, {
      table: "event_auth", columns: { event_id: "text", auth_id: "text", room_id: "text" }, skipDuplicates: true,
      rows: writes.flatMap((w) => w.authEventIds.map((authId) => [w.eventId, authId, w.roomId] as const)), values: (row) => row,
    });
    return new Map(rows.map((r) => [r.event_id, Number(r.stream_ordering)]));
  }
}
