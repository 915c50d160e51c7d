/**
 * FederationEventHandler (Synapse synapse/handlers/federation_event.py): puts events from other servers into a
 * room. For each event: fetch what it builds on that we lack (prev events with get_missing_events; when the gap
 * is too big, the state at the missing prev events with /state_ids and /event; auth events with /event_auth),
 * then, under the room's lock, decide its fate with the spec's checks — rejected if it fails the auth rules
 * against its auth events or against the state before it, soft-failed if it fails them against the current
 * state — and persist it either way. Also the state of a room we just joined, and backfill of older history.
 */
import {
  authEventIdsOf, eventIdOf, getRoomVersion, prevEventIdsOf, stateKeyOfEvent, type Pdu, type RoomVersion, type StateMap,
} from "../events";
import type { Logger } from "../http/router";
import { roomIdOfEvent, type EventPersister, type PersistedEvent } from "../rooms/event-persister";
import type { PendingEvent, StateHandler } from "../rooms/state-handler";
import type { EventBatch } from "../store/event-batch";
import type { EventStore } from "../store/event-store";
import type { RoomStore } from "../store/room-store";
import type { StateStore } from "../store/state-store";
import type { Linearizer } from "../util/linearizer";
import type { FederationClient } from "./client";

/** Synapse asks get_missing_events for 10 events; a bigger gap is bridged with the state at the missing events. */
export const MISSING_EVENTS_LIMIT = 10;
/** Beyond this many unknown state events, one /state request beats one /event request each. */
const FETCH_STATE_THRESHOLD = 20;
/** Rounds of fetching auth events of auth events before giving up on an incomplete auth chain. */
const MAX_AUTH_FETCH_ROUNDS = 10;

export interface FederationEventHandlerOptions {
  serverName: string;
  rooms: RoomStore;
  events: EventStore;
  state: StateStore;
  stateHandler: StateHandler;
  persister: EventPersister;
  roomLocks: Linearizer;
  client: FederationClient;
  log: Logger;
  now?: () => number;
}

interface ProcessOptions {
  /** ask the origin for missing prev events first (not for events that were themselves fetched) */
  fetchMissing: boolean;
  backfilled: boolean;
  sendOnBehalfOf: string | null;
  /** queue the event into the room's batch instead of writing it now (the staging worker commits the batch) */
  batch?: EventBatch;
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((id) => b.includes(id));
}

export class FederationEventHandler {
  private readonly now: () => number;

  constructor(private readonly o: FederationEventHandlerOptions) {
    this.now = o.now ?? Date.now;
  }

  /**
   * An event pushed to us by `origin` (a transaction's PDU, or a send_join/send_leave/send_knock). Returns the
   * persisted event, or null when we already had it in the room's timeline or it was queued into `options.batch`.
   */
  async onReceivePdu(origin: string, event: Pdu, version: RoomVersion, options: { sendOnBehalfOf?: string; batch?: EventBatch } = {}): Promise<PersistedEvent | null> {
    return this.processEvent(origin, event, version, {
      fetchMissing: true, backfilled: false, sendOnBehalfOf: options.sendOnBehalfOf ?? null, batch: options.batch,
    });
  }

  /** The servers to ask about a room: the one that sent us the event first, then the others in the room. */
  private async serversFor(roomId: string, first?: string): Promise<string[]> {
    const inRoom = [...(await this.o.state.currentJoinedHosts(roomId))].sort();
    return [...new Set([...(first ? [first] : []), ...inRoom])].filter((s) => s !== this.o.serverName);
  }

  private async processEvent(origin: string, event: Pdu, version: RoomVersion, options: ProcessOptions): Promise<PersistedEvent | null> {
    const eventId = eventIdOf(event, version);
    const roomId = roomIdOfEvent(event, version);
    if ((await this.o.events.haveTimelineEvents([eventId])).size > 0) return null;
    const prevs = prevEventIdsOf(event, version);
    let missing = await this.missingPrevs(prevs);
    if (missing.length > 0 && options.fetchMissing) {
      await this.fetchMissingPrevs(origin, roomId, version, eventId);
      missing = await this.missingPrevs(prevs);
    }
    // What the missing prev events' states were, from the servers that have them (Synapse _resolve_state_at_missing_prevs).
    const extraStates: StateMap<string>[] = [];
    for (const prevId of missing) extraStates.push(await this.stateAfterMissingEvent(origin, roomId, version, prevId));
    await this.ensureAuthEvents(origin, roomId, version, event, eventId);

    return this.o.roomLocks.run(roomId, async () => {
      const have = await this.o.events.haveTimelineEvents(prevs);
      const knownPrevs = prevs.filter((id) => have.has(id));
      const context = await this.o.stateHandler.computeContext(version, knownPrevs, extraStates);
      const rejectedReason = (await this.o.stateHandler.rejectionByAuthEvents(event, version))
        ?? (await this.o.stateHandler.rejectionByState(event, version, context.stateBefore));
      let softFailed = false;
      if (rejectedReason === null && !options.backfilled) softFailed = await this.failsAgainstCurrentState(event, version, roomId, prevs, context.stateBefore);
      if (rejectedReason !== null) this.o.log.info("rejected event", { origin, event_id: eventId, reason: rejectedReason });
      else if (softFailed) this.o.log.info("soft-failed event", { origin, event_id: eventId });
      const request = { event, version, context, rejectedReason, softFailed, backfilled: options.backfilled, sendOnBehalfOf: options.sendOnBehalfOf };
      if (!options.batch) return this.o.persister.persist(request);
      await this.o.persister.queue(request, options.batch);
      return null;
    });
  }

  private async missingPrevs(prevs: string[]): Promise<string[]> {
    const have = await this.o.events.haveTimelineEvents(prevs);
    return prevs.filter((id) => !have.has(id));
  }

  /**
   * Soft failure (Synapse _check_for_soft_fail): an event that passed at its position is still kept out of the
   * current state if it fails against the room's current state, e.g. it was sent by someone banned meanwhile.
   * Only checked when the event does not build exactly on our forward extremities.
   */
  private async failsAgainstCurrentState(event: Pdu, version: RoomVersion, roomId: string, prevs: string[], stateBefore: StateMap<string>): Promise<boolean> {
    const extremities = await this.o.events.getForwardExtremities(roomId);
    if (sameSet(extremities, prevs)) return false;
    const current = await this.o.state.getCurrentState(roomId);
    const resolved = await this.o.stateHandler.resolve(version, [current, stateBefore]);
    return (await this.o.stateHandler.rejectionByState(event, version, resolved)) !== null;
  }

  /** get_missing_events from `origin` between our forward extremities and the event, then each of those events. */
  private async fetchMissingPrevs(origin: string, roomId: string, version: RoomVersion, eventId: string): Promise<void> {
    let fetched: Pdu[];
    try {
      fetched = await this.o.client.getMissingEvents(origin, roomId, version, {
        earliest: await this.o.events.getForwardExtremities(roomId),
        latest: [eventId],
        limit: MISSING_EVENTS_LIMIT,
        minDepth: await this.o.events.minTimelineDepth(roomId),
      });
    } catch (e) {
      this.o.log.info("get_missing_events failed; will fetch the state at the missing events instead", { origin, room_id: roomId, error: (e as Error).message });
      return;
    }
    await this.processPulledEvents(origin, version, fetched, false);
  }

  /** Events fetched from `origin` (missing events, backfill), oldest first, each as a timeline event. */
  private async processPulledEvents(origin: string, version: RoomVersion, events: Pdu[], backfilled: boolean): Promise<PersistedEvent[]> {
    const sorted = [...events].sort((a, b) => (a.depth as number) - (b.depth as number));
    const persisted: PersistedEvent[] = [];
    for (const event of sorted) {
      try {
        const result = await this.processEvent(origin, event, version, { fetchMissing: false, backfilled, sendOnBehalfOf: null });
        if (result) persisted.push(result);
      } catch (e) {
        // One fetched event we cannot place does not stop the others (or the event that needed them).
        this.o.log.info("could not process a fetched event", { origin, event_id: eventIdOf(event, version), error: (e as Error).message });
      }
    }
    return persisted;
  }

  /**
   * The state after an event we do not hold in the timeline: the state before it from /state_ids, plus the event
   * itself if it is an accepted state event. Every event involved is fetched and kept as an outlier.
   */
  private async stateAfterMissingEvent(origin: string, roomId: string, version: RoomVersion, eventId: string): Promise<StateMap<string>> {
    const servers = await this.serversFor(roomId, origin);
    const { server, stateIds, authChainIds } = await this.o.client.getStateIds(servers, roomId, eventId);
    const needed = [...new Set([...stateIds, ...authChainIds, eventId])];
    const have = await this.o.events.getEvents(needed);
    const lacking = needed.filter((id) => !have.has(id));
    let fetched: Pdu[];
    if (lacking.length > FETCH_STATE_THRESHOLD) {
      const { state, authChain } = await this.o.client.getState([server, ...servers], roomId, eventId, version);
      fetched = [...state, ...authChain];
      if (lacking.includes(eventId)) fetched.push(await this.o.client.getEvent([server, ...servers], roomId, eventId, version));
    } else {
      fetched = await this.o.client.getEvents([server, ...servers], roomId, lacking, version);
    }
    await this.persistOutliers([server, ...servers], roomId, version, fetched);
    const stored = await this.o.events.getEvents([...stateIds, eventId]);
    const state: StateMap<string> = new Map();
    for (const id of [...stateIds, eventId]) {
      const event = stored.get(id);
      if (!event || event.rejectedReason !== null) continue;
      // The missing event itself counts only if it was accepted at its position; we take the others' word for theirs.
      const key = stateKeyOfEvent(event.pdu);
      if (key !== undefined) state.set(key, id);
    }
    return state;
  }

  /** Fetches the event's auth events we lack (its auth chain from /event_auth, then any still missing by ID). */
  private async ensureAuthEvents(origin: string, roomId: string, version: RoomVersion, event: Pdu, eventId: string): Promise<void> {
    const authIds = authEventIdsOf(event, version);
    const have = await this.o.events.getEvents(authIds);
    if (authIds.every((id) => have.has(id))) return;
    const servers = await this.serversFor(roomId, origin);
    let chain: Pdu[] = [];
    try {
      chain = await this.o.client.getEventAuth(servers, roomId, eventId, version);
    } catch (e) {
      this.o.log.info("event_auth failed; fetching the auth events one by one", { event_id: eventId, error: (e as Error).message });
    }
    await this.persistOutliers(servers, roomId, version, chain, [event]);
  }

  /**
   * Persists fetched events as outliers, each judged against its own auth events, in auth order. Auth events
   * that neither the batch nor our store has are fetched first (from `servers`), up to a bounded depth;
   * `dependents` are events whose auth events must be complete too, without being persisted here.
   */
  async persistOutliers(servers: string[], roomId: string, version: RoomVersion, events: Pdu[], dependents: Pdu[] = []): Promise<void> {
    const batch = new Map<string, Pdu>();
    for (const event of events) batch.set(eventIdOf(event, version), event);
    const stored = await this.o.events.getEvents(batch.keys());
    for (const id of stored.keys()) batch.delete(id);
    for (let round = 0; round < MAX_AUTH_FETCH_ROUNDS; round++) {
      const wanted = new Set([...batch.values(), ...dependents].flatMap((e) => authEventIdsOf(e, version)).filter((id) => !batch.has(id)));
      const known = await this.o.events.getEvents(wanted);
      const lacking = [...wanted].filter((id) => !known.has(id));
      if (lacking.length === 0) break;
      const fetched = await this.o.client.getEvents(servers, roomId, lacking, version);
      if (fetched.length === 0) break;
      for (const event of fetched) batch.set(eventIdOf(event, version), event);
    }
    if (batch.size === 0) return;
    const pending = new Map<string, PendingEvent>();
    const outliers = [];
    for (const [id, event] of authOrder(batch, version)) {
      const rejectedReason = await this.o.stateHandler.rejectionByAuthEvents(event, version, pending);
      if (rejectedReason !== null) this.o.log.info("rejected fetched event", { event_id: id, reason: rejectedReason });
      pending.set(id, { pdu: event, rejected: rejectedReason !== null });
      outliers.push({ event, version, rejectedReason });
    }
    await this.o.persister.persistOutliers(outliers);
  }

  /**
   * Puts a room we joined through `origin` into the database: the state and auth chain from send_join as
   * outliers, then our join event on top of that state, as the room's first timeline event here.
   */
  async processRemoteJoin(origin: string, roomId: string, version: RoomVersion, join: Pdu, state: Pdu[], authChain: Pdu[]): Promise<PersistedEvent> {
    const create = state.find((e) => e.type === "m.room.create" && e.state_key === "");
    if (!create) throw new Error(`the state ${origin} returned for ${roomId} has no create event`);
    const createVersion = typeof create.content.room_version === "string" ? create.content.room_version : "1";
    if (createVersion !== version.id) throw new Error(`${origin} said ${roomId} has room version ${version.id}, its create event says ${createVersion}`);
    await this.o.rooms.storeRoom(roomId, version.id, this.now(), { creator: typeof create.sender === "string" ? create.sender : undefined, confirmed: true });
    const joinId = eventIdOf(join, version);
    const servers = [origin, ...(await this.serversFor(roomId))];
    return this.o.roomLocks.run(roomId, async () => {
      const others = [...state, ...authChain].filter((e) => eventIdOf(e, version) !== joinId);
      await this.persistOutliers(servers, roomId, version, others, [join]);
      const stateIds = state.map((e) => eventIdOf(e, version)).filter((id) => id !== joinId);
      const stored = await this.o.events.getEvents(stateIds);
      const stateBefore: StateMap<string> = new Map();
      for (const id of stateIds) {
        const event = stored.get(id);
        const key = event && stateKeyOfEvent(event.pdu);
        if (event && key !== undefined && event.rejectedReason === null) stateBefore.set(key, id);
      }
      const context = { stateBefore, stateGroupBefore: null };
      const rejection = (await this.o.stateHandler.rejectionByAuthEvents(join, version))
        ?? (await this.o.stateHandler.rejectionByState(join, version, stateBefore));
      if (rejection !== null) throw new Error(`our join to ${roomId} does not pass the auth rules against the state ${origin} returned: ${rejection}`);
      return this.o.persister.persist({ event: join, version, context });
    });
  }

  /**
   * Backfill (Synapse maybe_backfill): asks the servers in the room for up to `limit` events before the oldest
   * ones we hold, and persists them as history (they change neither extremities nor current state).
   */
  async backfill(roomId: string, limit: number): Promise<PersistedEvent[]> {
    const versionId = await this.o.rooms.getRoomVersion(roomId);
    if (versionId === null) throw new Error(`unknown room ${roomId}`);
    const version = getRoomVersion(versionId);
    const from = await this.o.events.getBackwardExtremities(roomId);
    if (from.length === 0) return [];
    const { server, events } = await this.o.client.backfill(await this.serversFor(roomId), roomId, version, from.slice(0, 5), limit);
    return this.processPulledEvents(server, version, events, true);
  }
}

/** The batch in an order where every event comes after those of its auth events that are in the batch. */
function authOrder(batch: Map<string, Pdu>, version: RoomVersion): Array<[string, Pdu]> {
  const ordered: Array<[string, Pdu]> = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const visit = (id: string): void => {
    if (placed.has(id) || visiting.has(id)) return;
    const event = batch.get(id);
    if (!event) return;
    visiting.add(id);
    for (const authId of authEventIdsOf(event, version)) visit(authId);
    visiting.delete(id);
    placed.add(id);
    ordered.push([id, event]);
  };
  for (const id of [...batch.keys()].sort((a, b) => ((batch.get(a)!.depth as number) - (batch.get(b)!.depth as number)) || (a < b ? -1 : 1))) visit(id);
  return ordered;
}
