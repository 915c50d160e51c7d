/**
 * Room state (Synapse's state groups and current_state_events). The state after each timeline event is a state
 * group, stored as a delta on an earlier group, with a full snapshot whenever the delta chain would grow past
 * MAX_STATE_DELTA_DEPTH: writing a state is a few rows, reading one is a single query over at most that many
 * groups. Groups never change once written, so read states are cached. Also the room's current state and who is
 * joined where, which the federation sender asks for each event.
 */
import { LRUCache } from "lru-cache";
import { parseStateKey, stateKey, type StateKey, type StateMap } from "../events";
import { bulkInsert } from "./bulk-insert";
import type { OpenBatches } from "./event-batch";
import type { Prisma, PrismaClient } from "./generated/client";

export type Tx = Prisma.TransactionClient;

/** Synapse snapshots every 100 deltas; 50 keeps reads of long-lived rooms cheap at little storage cost. */
export const MAX_STATE_DELTA_DEPTH = 50;

export interface StateGroupOfEvent {
  group: number;
  /** for an accepted state event, the event it replaced (null when it filled an empty slot) */
  replacesState: string | null;
}

export interface CurrentMember {
  userId: string;
  membership: string;
  eventId: string;
}

interface CachedGroup {
  state: StateMap<string>;
  deltaDepth: number;
}

/** A state group about to be written: its ID is taken from the database's sequence when it is planned. */
export interface PlannedStateGroup extends CachedGroup {
  id: number;
  roomId: string;
  eventId: string;
  prevStateGroup: number | null;
  /** the rows to write: the whole state for a snapshot, what changed for a delta */
  entries: Array<[StateKey, string]>;
}

const MEMBER_TYPE = "m.room.member";
/** Rows per statement when many change at once: keeps statements and their parameter lists of a sane size. */
const WRITE_CHUNK = 500;

function hostOf(userId: string): string {
  return userId.slice(userId.indexOf(":") + 1);
}

export class StateStore {
  private readonly groups = new LRUCache<number, CachedGroup>({ max: 2000 });
  private readonly currentStates = new LRUCache<string, StateMap<string>>({ max: 1000 });
  /** an event's state group never changes once written */
  private readonly eventGroups = new LRUCache<string, StateGroupOfEvent>({ max: 50_000 });
  /** content.membership of member events: immutable, and asked for on every event the sender sends */
  private readonly memberships = new LRUCache<string, { membership: string | null }>({ max: 50_000 });

  /** `batches`: timeline events queued but not yet written, which reads see before the database */
  constructor(private readonly prisma: PrismaClient, private readonly batches: OpenBatches) {}

  /** The full state of a group (a copy the caller may change). Throws for an unknown group. */
  async getStateGroupState(group: number): Promise<StateMap<string>> {
    return new Map((await this.loadGroup(group)).state);
  }

  private async loadGroup(group: number): Promise<CachedGroup> {
    const cached = this.batches.group(group) ?? this.groups.get(group);
    if (cached) return cached;
    const rows = await this.prisma.$queryRaw<Array<{ n: number; type: string | null; state_key: string | null; event_id: string | null }>>`
      WITH RECURSIVE chain(id, prev, n) AS (
        SELECT id, prev_state_group, 0 FROM state_groups WHERE id = ${BigInt(group)}
        UNION ALL
        SELECT g.id, g.prev_state_group, c.n + 1 FROM state_groups g JOIN chain c ON g.id = c.prev
      )
      SELECT c.n::int AS n, s.type, s.state_key, s.event_id
      FROM chain c LEFT JOIN state_groups_state s ON s.state_group = c.id`;
    if (rows.length === 0) throw new Error(`state group ${group} does not exist`);
    // The deepest group is the snapshot; apply from there up so later deltas override.
    rows.sort((a, b) => Number(b.n) - Number(a.n));
    const state: StateMap<string> = new Map();
    for (const row of rows) {
      if (row.type !== null && row.state_key !== null && row.event_id !== null) state.set(stateKey(row.type, row.state_key), row.event_id);
    }
    const entry = { state, deltaDepth: Number(rows[0]!.n) };
    this.groups.set(group, entry);
    return entry;
  }

  async stateGroupsOfEvents(eventIds: Iterable<string>): Promise<Map<string, StateGroupOfEvent>> {
    const result = new Map<string, StateGroupOfEvent>();
    const missing: string[] = [];
    for (const id of new Set(eventIds)) {
      const cached = this.batches.eventGroup(id) ?? this.eventGroups.get(id);
      if (cached) result.set(id, cached);
      else missing.push(id);
    }
    if (missing.length === 0) return result;
    const rows = await this.prisma.eventToStateGroup.findMany({ where: { eventId: { in: missing } } });
    for (const row of rows) {
      const entry = { group: Number(row.stateGroup), replacesState: row.replacesState };
      this.eventGroups.set(row.eventId, entry);
      result.set(row.eventId, entry);
    }
    return result;
  }

  /** Records the state group of an event written in a committed transaction. */
  noteEventGroupCommitted(eventId: string, entry: StateGroupOfEvent): void {
    this.eventGroups.set(eventId, entry);
  }

  async stateGroupOfEvent(eventId: string): Promise<StateGroupOfEvent | null> {
    return (await this.stateGroupsOfEvents([eventId])).get(eventId) ?? null;
  }

  /** The state after a timeline event, or null for an event without state (an outlier, or unknown). */
  async getStateAfterEvent(eventId: string): Promise<StateMap<string> | null> {
    const group = await this.stateGroupOfEvent(eventId);
    return group && this.getStateGroupState(group.group);
  }

  /**
   * Plans the state after `eventId` as a new group: a delta on `base` when that is possible (no key removed, chain
   * not too deep), else a full snapshot. Its ID is taken now, so events queued after it can name it.
   */
  async planStateGroup(roomId: string, eventId: string, base: number | null, state: StateMap<string>): Promise<PlannedStateGroup> {
    let entries: Array<[StateKey, string]> = [...state];
    let prevStateGroup: number | null = null;
    let deltaDepth = 0;
    if (base !== null) {
      const baseGroup = await this.loadGroup(base);
      const removesKeys = [...baseGroup.state.keys()].some((key) => !state.has(key));
      if (!removesKeys && baseGroup.deltaDepth + 1 < MAX_STATE_DELTA_DEPTH) {
        entries = entries.filter(([key, id]) => baseGroup.state.get(key) !== id);
        prevStateGroup = base;
        deltaDepth = baseGroup.deltaDepth + 1;
      }
    }
    const [{ id }] = await this.prisma.$queryRaw<[{ id: bigint }]>`SELECT nextval(pg_get_serial_sequence('state_groups', 'id')) AS id`;
    return { id: Number(id), roomId, eventId, prevStateGroup, deltaDepth, entries, state: new Map(state) };
  }

  /** Writes planned state groups inside `tx`; they are cached by `noteGroupCommitted` once it has committed. */
  async writeStateGroups(tx: Tx, groups: PlannedStateGroup[]): Promise<void> {
    await bulkInsert(tx, {
      table: "state_groups", columns: { id: "bigint", room_id: "text", event_id: "text", prev_state_group: "bigint", delta_depth: "integer" },
      rows: groups, values: (g) => [g.id, g.roomId, g.eventId, g.prevStateGroup, g.deltaDepth],
    });
    await bulkInsert(tx, {
      table: "state_groups_state", columns: { state_group: "bigint", type: "text", state_key: "text", event_id: "text" },
      rows: groups.flatMap((g) => g.entries.map(([key, eventId]) => [g.id, ...parseStateKey(key), eventId] as const)), values: (row) => row,
    });
  }

  /** Records that `group` (written in a committed transaction) holds `state`, so reading it costs nothing. */
  noteGroupCommitted(group: number, deltaDepth: number, state: StateMap<string>): void {
    this.groups.set(group, { state: new Map(state), deltaDepth });
  }

  async getCurrentState(roomId: string): Promise<StateMap<string>> {
    const cached = this.batches.forRoom(roomId)?.after?.state ?? this.currentStates.get(roomId);
    if (cached) return new Map(cached);
    const rows = await this.prisma.currentStateEvent.findMany({ where: { roomId }, select: { type: true, stateKey: true, eventId: true } });
    const state: StateMap<string> = new Map(rows.map((r) => [stateKey(r.type, r.stateKey), r.eventId]));
    this.currentStates.set(roomId, state);
    return new Map(state);
  }

  /**
   * Replaces the room's current state with `state` inside `tx`, writing only what changed since `previous`.
   * Memberships are read from the events table, where the new event is already written.
   */
  async writeCurrentState(tx: Tx, roomId: string, previous: StateMap<string>, state: StateMap<string>): Promise<void> {
    const removed = [...previous.keys()].filter((key) => !state.has(key));
    const changed = [...state].filter(([key, id]) => previous.get(key) !== id);
    for (const key of removed) {
      const [type, stateKeyValue] = parseStateKey(key);
      await tx.currentStateEvent.deleteMany({ where: { roomId, type, stateKey: stateKeyValue } });
    }
    if (changed.length === 0) return;
    const memberIds = changed.filter(([key]) => parseStateKey(key)[0] === MEMBER_TYPE).map(([, id]) => id);
    const memberships = new Map(
      memberIds.length === 0
        ? []
        : (await tx.event.findMany({ where: { eventId: { in: memberIds } }, select: { eventId: true, membership: true } })).map((r) => [r.eventId, r.membership]),
    );
    const rows = changed.map(([key, eventId]) => {
      const [type, stateKeyValue] = parseStateKey(key);
      return { roomId, type, stateKey: stateKeyValue, eventId, membership: memberships.get(eventId) ?? null };
    });
    if (rows.length > 1) {
      // A join (or a resolution) can change many keys at once: replace them a chunk at a time, not one by one.
      for (let i = 0; i < rows.length; i += WRITE_CHUNK) {
        const chunk = rows.slice(i, i + WRITE_CHUNK);
        await tx.currentStateEvent.deleteMany({ where: { roomId, OR: chunk.map((r) => ({ type: r.type, stateKey: r.stateKey })) } });
        await tx.currentStateEvent.createMany({ data: chunk });
      }
      return;
    }
    const row = rows[0]!;
    await tx.currentStateEvent.upsert({
      where: { roomId_type_stateKey: { roomId, type: row.type, stateKey: row.stateKey } },
      create: row,
      update: { eventId: row.eventId, membership: row.membership },
    });
  }

  noteCurrentStateCommitted(roomId: string, state: StateMap<string>): void {
    this.currentStates.set(roomId, new Map(state));
  }

  async getCurrentMembers(roomId: string): Promise<CurrentMember[]> {
    const rows = await this.prisma.currentStateEvent.findMany({
      where: { roomId, type: MEMBER_TYPE },
      select: { stateKey: true, membership: true, eventId: true },
      orderBy: { stateKey: "asc" },
    });
    return rows.map((r) => ({ userId: r.stateKey, membership: r.membership ?? "leave", eventId: r.eventId }));
  }

  /** The servers with a joined member in the room's current state. */
  async currentJoinedHosts(roomId: string): Promise<Set<string>> {
    const rows = await this.prisma.currentStateEvent.findMany({
      where: { roomId, type: MEMBER_TYPE, membership: "join" },
      select: { stateKey: true },
    });
    return new Set(rows.map((r) => hostOf(r.stateKey)));
  }

  /** Rooms where `userId` has this membership in the current state. */
  async roomsForUser(userId: string, membership: string): Promise<string[]> {
    const rows = await this.prisma.currentStateEvent.findMany({ where: { type: MEMBER_TYPE, stateKey: userId, membership }, select: { roomId: true } });
    return rows.map((r) => r.roomId);
  }

  /**
   * The servers with a joined member in the state *before* the event (Synapse's sender asks the same): a server
   * whose last member was just banned must still receive the ban. Null for an event without state (an outlier).
   */
  async joinedHostsAtEvent(eventId: string): Promise<Set<string> | null> {
    const group = await this.stateGroupOfEvent(eventId);
    if (!group) return null;
    const state = await this.getStateGroupState(group.group);
    // Undo the event's own entry (an accepted state event occupies one key of the state after it).
    for (const [key, id] of state) {
      if (id !== eventId) continue;
      if (group.replacesState === null) state.delete(key);
      else state.set(key, group.replacesState);
    }
    return this.joinedHostsIn(state);
  }

  /** The servers with a joined member in a state map. */
  async joinedHostsIn(state: StateMap<string>): Promise<Set<string>> {
    const members: Array<[string, string]> = [];
    for (const [key, id] of state) {
      const [type, userId] = parseStateKey(key);
      if (type === MEMBER_TYPE) members.push([userId, id]);
    }
    const memberships = await this.membershipsOf(members.map(([, id]) => id));
    return new Set(members.filter(([, id]) => memberships.get(id) === "join").map(([userId]) => hostOf(userId)));
  }

  /** content.membership of member events (null for events that have none). */
  async membershipsOf(eventIds: string[]): Promise<Map<string, string | null>> {
    const result = new Map<string, string | null>();
    const missing: string[] = [];
    for (const id of eventIds) {
      const known = this.memberships.get(id);
      if (known !== undefined) result.set(id, known.membership);
      else missing.push(id);
    }
    if (missing.length > 0) {
      const rows = await this.prisma.event.findMany({ where: { eventId: { in: missing } }, select: { eventId: true, membership: true } });
      for (const row of rows) {
        this.memberships.set(row.eventId, { membership: row.membership });
        result.set(row.eventId, row.membership);
      }
    }
    return result;
  }
}
