/**
 * EventBatch: timeline events of one room queued to be written in one database transaction (Synapse's
 * persist_events batches the same way). A transaction of PDUs costs a handful of statements instead of a dozen per
 * event. Until the batch commits, reads through EventStore and StateStore see what it holds (its events, their
 * state groups, the room's forward extremities and current state), so each next event of the room is checked
 * against the ones before it; nothing reaches the database, or the events stream, before the commit.
 */
import type { StateMap } from "../events";
import type { EventWrite, StoredEvent, TimelineWrite } from "./event-store";
import type { PlannedStateGroup, StateGroupOfEvent } from "./state-store";

export interface QueuedEvent {
  write: EventWrite;
  timeline: TimelineWrite;
  /** the new state group the event needs (null when it shares its prev event's group) */
  group: PlannedStateGroup | null;
  /** held as an outlier until now: its row is replaced by the timeline one */
  replacesOutlier: boolean;
}

export interface RoomHeads {
  extremities: string[];
  state: StateMap<string>;
}

export class EventBatch {
  readonly queued: QueuedEvent[] = [];
  readonly events = new Map<string, StoredEvent>();
  readonly eventGroups = new Map<string, StateGroupOfEvent>();
  readonly groups = new Map<number, PlannedStateGroup>();
  /** the room's forward extremities and current state before the first queued event changed them, and now */
  before: RoomHeads | null = null;
  after: RoomHeads | null = null;
  /** set when a commit failed: the events queued were dropped, so nothing built on them may be written */
  failure: Error | null = null;

  constructor(readonly roomId: string) {}

  /** Forgets what was queued (after a commit, or when it failed). */
  clear(): void {
    this.queued.length = 0;
    this.events.clear();
    this.eventGroups.clear();
    this.groups.clear();
    this.before = null;
    this.after = null;
  }
}

/** The batches open now, one per room at most: what the stores consult before their caches and the database. */
export class OpenBatches {
  private readonly byRoom = new Map<string, EventBatch>();

  /** Opens the room's batch; a room has one writer of queued events (its staging worker) at a time. */
  open(roomId: string): EventBatch {
    if (this.byRoom.has(roomId)) throw new Error(`room ${roomId} already has an open event batch`);
    const batch = new EventBatch(roomId);
    this.byRoom.set(roomId, batch);
    return batch;
  }

  close(batch: EventBatch): void {
    if (this.byRoom.get(batch.roomId) === batch) this.byRoom.delete(batch.roomId);
  }

  forRoom(roomId: string): EventBatch | undefined {
    return this.byRoom.get(roomId);
  }

  event(eventId: string): StoredEvent | undefined {
    for (const batch of this.byRoom.values()) {
      const event = batch.events.get(eventId);
      if (event) return event;
    }
    return undefined;
  }

  eventGroup(eventId: string): StateGroupOfEvent | undefined {
    for (const batch of this.byRoom.values()) {
      const group = batch.eventGroups.get(eventId);
      if (group) return group;
    }
    return undefined;
  }

  group(id: number): PlannedStateGroup | undefined {
    for (const batch of this.byRoom.values()) {
      const group = batch.groups.get(id);
      if (group) return group;
    }
    return undefined;
  }

  /** Whether a queued event names `eventId` among its prev_events. */
  isPrevOfQueued(eventId: string): boolean {
    for (const batch of this.byRoom.values()) if (batch.queued.some((q) => q.write.prevEventIds.includes(eventId))) return true;
    return false;
  }

  /** The auth events of queued events among `eventIds`, by event. */
  queuedAuthEvents(eventIds: Iterable<string>): Map<string, string[]> {
    const found = new Map<string, string[]>();
    for (const id of eventIds) {
      for (const batch of this.byRoom.values()) {
        const queued = batch.events.get(id) && batch.queued.find((q) => q.write.eventId === id);
        if (queued) found.set(id, queued.write.authEventIds);
      }
    }
    return found;
  }
}
