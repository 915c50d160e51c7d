/**
 * EventPersister (Synapse's persist_events): the one way events enter the database, for local events and for
 * those received over federation alike. For a timeline event it works out the state after the event, the new
 * forward extremities and the room's new current state (resolving the extremities' states when the DAG has
 * forked), writes it all in one transaction, then tells the listeners (the events stream: federation sender,
 * replication). Callers hold the room's lock (RoomLocks), so two events of one room are never persisted at once.
 * Events received over federation are queued a staged batch at a time and written together (EventBatch).
 */
import {
  authEventIdsOf, eventIdOf, prevEventIdsOf, roomIdForCreateEvent, stateKeyOfEvent, type Pdu, type RoomVersion, type StateMap,
} from "../events";
import type { Logger } from "../http/router";
import type { EventBatch } from "../store/event-batch";
import type { EventStore, EventWrite, PersistedEvent, TimelineWrite } from "../store/event-store";
import type { StateStore } from "../store/state-store";
import type { EventContext, StateHandler } from "./state-handler";

export type { PersistedEvent } from "../store/event-store";

export interface TimelineEventToPersist {
  event: Pdu;
  version: RoomVersion;
  context: EventContext;
  /** the auth rule the event broke; it is kept (so it is not fetched again) but changes no state */
  rejectedReason?: string | null;
  /** passed auth at its position but not against the current state: kept out of the current state and extremities */
  softFailed?: boolean;
  /** older history fetched with /backfill: it changes neither the forward extremities nor the current state */
  backfilled?: boolean;
  /** a remote server's membership event received through send_join/send_leave/send_knock, relayed for it */
  sendOnBehalfOf?: string | null;
}

export interface OutlierToPersist {
  event: Pdu;
  version: RoomVersion;
  rejectedReason: string | null;
}

export type PersistedListener = (event: PersistedEvent) => void;

export interface EventPersisterOptions {
  events: EventStore;
  state: StateStore;
  stateHandler: StateHandler;
  log: Logger;
  now?: () => number;
}

/** Events keep no `unsigned` data in storage: it is per-delivery (age, prev_content) and not covered by any hash. */
function withoutUnsigned(event: Pdu): Pdu {
  if (event.unsigned === undefined) return event;
  const { unsigned: _unsigned, ...rest } = event;
  return rest as Pdu;
}

export class EventPersister {
  private readonly listeners = new Set<PersistedListener>();
  private readonly now: () => number;

  constructor(private readonly o: EventPersisterOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Called after each newly persisted event, in stream order. Returns a function that unsubscribes. */
  onPersisted(listener: PersistedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(event: PersistedEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (e) {
        this.o.log.error("events stream listener failed", { event_id: event.eventId, error: (e as Error).message });
      }
    }
  }

  private write(event: Pdu, version: RoomVersion, fields: Pick<EventWrite, "outlier" | "rejectedReason" | "softFailed" | "sendOnBehalfOf">): EventWrite {
    return {
      eventId: eventIdOf(event, version),
      roomId: roomIdOfEvent(event, version),
      pdu: withoutUnsigned(event),
      prevEventIds: prevEventIdsOf(event, version),
      authEventIds: authEventIdsOf(event, version),
      receivedTs: this.now(),
      ...fields,
    };
  }

  /**
   * Persists a timeline event now (the caller holds the room's lock), with whatever the room's staging worker
   * queued before it. Returns its position on the events stream (or the event as held already).
   */
  async persist(request: TimelineEventToPersist): Promise<PersistedEvent> {
    const { write, timeline } = await this.prepare(request);
    const batch = this.o.events.batchFor(write.roomId);
    const held = await this.o.events.queueEvent(batch, write, timeline);
    if (held) return held;
    const written = await this.commit(batch);
    return written.find((e) => e.eventId === write.eventId)!;
  }

  /**
   * Queues a timeline event into `batch` (the caller holds the room's lock): the next events of the room are checked
   * against it, and `commit` writes them all at once.
   */
  async queue(request: TimelineEventToPersist, batch: EventBatch): Promise<void> {
    const { write, timeline } = await this.prepare(request);
    await this.o.events.queueEvent(batch, write, timeline);
  }

  /** Opens the room's batch for `queue` (the staging worker's way); `closeBatch` once done, committed or not. */
  openBatch(roomId: string): EventBatch {
    return this.o.events.openBatch(roomId);
  }

  closeBatch(batch: EventBatch): void {
    this.o.events.closeBatch(batch);
  }

  /** Writes what `batch` holds in one transaction, then tells the listeners. */
  async commit(batch: EventBatch): Promise<PersistedEvent[]> {
    const written = await this.o.events.commitBatch(batch);
    for (const event of written) this.notify(event);
    return written;
  }

  /** What persisting the event writes: the row and, as a timeline event, its state group and the room's change. */
  private async prepare(request: TimelineEventToPersist): Promise<{ write: EventWrite; timeline: TimelineWrite }> {
    const { event, version, context } = request;
    const rejectedReason = request.rejectedReason ?? null;
    const softFailed = request.softFailed ?? false;
    const write = this.write(event, version, {
      outlier: false, rejectedReason, softFailed, sendOnBehalfOf: request.sendOnBehalfOf ?? null,
    });
    const key = stateKeyOfEvent(event);
    const changesState = rejectedReason === null && key !== undefined;
    const stateAfter = changesState ? new Map(context.stateBefore).set(key, write.eventId) : context.stateBefore;
    const timeline: TimelineWrite = {
      stateGroup: !changesState && context.stateGroupBefore !== null
        ? { existing: context.stateGroupBefore }
        : { base: context.stateGroupBefore, state: stateAfter },
      replacesState: changesState ? context.stateBefore.get(key) ?? null : null,
      room: rejectedReason === null && !softFailed && !request.backfilled ? await this.roomChange(write, version, stateAfter) : null,
    };
    return { write, timeline };
  }

  /**
   * The forward extremities and current state once this event is in (Synapse _calculate_new_extremities and
   * _calculate_new_room_state): its prev events stop being extremities and it becomes one, unless a timeline
   * event already cites it (it arrived late). With one extremity left, the current state is the state after it;
   * otherwise the extremities' states are resolved.
   */
  private async roomChange(write: EventWrite, version: RoomVersion, stateAfter: StateMap<string>): Promise<TimelineWrite["room"]> {
    const previousExtremities = await this.o.events.getForwardExtremities(write.roomId);
    if (await this.o.events.isReferencedByTimeline(write.eventId)) return null;
    const extremities = [...previousExtremities.filter((id) => !write.prevEventIds.includes(id)), write.eventId].sort();
    const previousState = await this.o.state.getCurrentState(write.roomId);
    const others = extremities.filter((id) => id !== write.eventId);
    let state = stateAfter;
    if (others.length > 0) {
      const groups = await this.o.state.stateGroupsOfEvents(others);
      const otherStates = await Promise.all([...new Set([...groups.values()].map((g) => g.group))].map((g) => this.o.state.getStateGroupState(g)));
      state = await this.o.stateHandler.resolve(version, [...otherStates, stateAfter], new Map([[write.eventId, { pdu: write.pdu, rejected: false }]]));
    }
    return { extremities, previousExtremities, previousState, state };
  }

  /** Persists events outside the timeline (auth chains, state from other servers), each with its auth verdict. */
  async persistOutliers(outliers: OutlierToPersist[]): Promise<PersistedEvent[]> {
    const persisted = await this.o.events.persistOutliers(outliers.map(({ event, version, rejectedReason }) =>
      this.write(event, version, { outlier: true, rejectedReason, softFailed: false, sendOnBehalfOf: null })));
    for (const event of persisted) this.notify(event);
    return persisted;
  }
}

/** The room an event belongs to: its room_id, or for a v12 create event (which has none) the room its hash names. */
export function roomIdOfEvent(event: Pdu, version: RoomVersion): string {
  if (typeof event.room_id === "string") return event.room_id;
  if (event.type === "m.room.create" && version.roomIdFormat === "create-event-hash") return roomIdForCreateEvent(eventIdOf(event, version));
  throw new Error("event has no room_id");
}
