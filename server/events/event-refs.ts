/**
 * The event IDs an event refers to: its own, those in `prev_events` and `auth_events` (pairs `[id, hashes]` in
 * room versions 1–2, plain IDs from v3), and from v12 the create event its room ID names (MSC4291), which every
 * other event depends on without citing it.
 */
import { computeEventId } from "./hashes";
import { InvalidEventError, type Pdu } from "./pdu";
import type { RoomVersion } from "./room-versions";

// Events are treated as immutable once parsed, so an ID computed once stays right for that object.
const computedIds = new WeakMap<Pdu, string>();

/** The event's ID (carried in v1–2, its reference hash from v3), computed once per event object. */
export function eventIdOf(event: Pdu, version: RoomVersion): string {
  let id = computedIds.get(event);
  if (id === undefined) {
    id = computeEventId(event, version);
    computedIds.set(event, id);
  }
  return id;
}

/** Records an ID already computed for this event object (one read back from our own staging area). */
export function knownEventId(event: Pdu, id: string): void {
  computedIds.set(event, id);
}

function referencedIds(event: Pdu, field: "prev_events" | "auth_events", version: RoomVersion): string[] {
  const value = event[field];
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InvalidEventError(`invalid event: ${field} is not a list`);
  return value.map((entry) => {
    if (version.eventIdFormat === "opaque") {
      if (Array.isArray(entry) && typeof entry[0] === "string") return entry[0];
    } else if (typeof entry === "string") {
      return entry;
    }
    throw new InvalidEventError(`invalid event: ${field} has an entry of the wrong shape for room version ${version.id}`);
  });
}

export function prevEventIdsOf(event: Pdu, version: RoomVersion): string[] {
  return referencedIds(event, "prev_events", version);
}

/** The IDs listed in the event's own `auth_events`, as sent. */
export function listedAuthEventIdsOf(event: Pdu, version: RoomVersion): string[] {
  return referencedIds(event, "auth_events", version);
}

/** The create event ID a v12 room ID stands for: the same hash with the `$` sigil. */
export function createEventIdForRoom(roomId: string): string {
  return "$" + roomId.slice(1);
}

/** The room ID a v12 create event defines, from its event ID. */
export function roomIdForCreateEvent(createEventId: string): string {
  return "!" + createEventId.slice(1);
}

/**
 * The event's auth events for walking the auth graph: the listed ones plus, from v12, the create event implied by
 * the room ID (as Synapse's auth_event_ids() does), so auth chains and sorts see the same graph in every version.
 */
export function authEventIdsOf(event: Pdu, version: RoomVersion): string[] {
  const listed = listedAuthEventIdsOf(event, version);
  if (version.createEventInAuthEvents || event.type === "m.room.create" || typeof event.room_id !== "string") return listed;
  const createId = createEventIdForRoom(event.room_id);
  return listed.includes(createId) ? listed : [...listed, createId];
}
