/**
 * Building new events (Synapse synapse/events/builder.py and create_local_event_from_event_dict): the fields a
 * server fills in before signing, in each room version's format. Choosing prev_events, auth_events and depth
 * needs the room's stored state, so the caller does that and passes them in.
 */
import { randomBytes } from "node:crypto";
import { encodeBase64Url, type JsonObject, type JsonValue, type SigningKey } from "../crypto";
import { eventIdOf } from "./event-refs";
import type { Pdu } from "./pdu";
import type { RoomVersion } from "./room-versions";
import { signEvent } from "./signing";

/** Spec: depth is capped at 2^63 − 1; JSON numbers are safe only to 2^53 − 1, which no room reaches. */
export const MAX_DEPTH = Number.MAX_SAFE_INTEGER;

/** At most this many prev_events per event (Synapse's MAX_PREV_EVENTS_FOR_NEW_EVENT). */
export const MAX_PREV_EVENTS = 10;

export interface EventFields {
  type: string;
  sender: string;
  content: JsonObject;
  stateKey?: string;
  /** for m.room.redaction: the target, placed where the room version wants it */
  redacts?: string;
}

export interface EventReference {
  eventId: string;
  event: Pdu;
}

export interface BuildEventInput {
  version: RoomVersion;
  /** null only for a v12 m.room.create event, whose hash becomes the room ID */
  roomId: string | null;
  fields: EventFields;
  prevEvents: EventReference[];
  authEvents: EventReference[];
  /** the server building the event: it signs it and, in v1–2, names the event ID */
  origin: string;
  originServerTs: number;
}

/**
 * How an event cites another in prev_events/auth_events: `[id, {sha256}]` pairs in v1–2 (the cited event's own
 * hashes, as Synapse sends), the bare ID from v3.
 */
export function eventReference(version: RoomVersion, ref: EventReference): JsonValue {
  if (version.eventIdFormat !== "opaque") return ref.eventId;
  const hashes = ref.event.hashes;
  return [ref.eventId, typeof hashes === "object" && hashes !== null ? hashes : {}];
}

/** A fresh `$opaque:server` event ID for v1–2, where the creating server picks it. */
export function newOpaqueEventId(origin: string): string {
  return `$${encodeBase64Url(randomBytes(18))}:${origin}`;
}

/** The unsigned event: depth one more than the deepest prev event, references in the version's format. */
export function buildEvent(input: BuildEventInput): JsonObject {
  const { version, fields } = input;
  const depth = Math.min(MAX_DEPTH, Math.max(0, ...input.prevEvents.map((p) => (typeof p.event.depth === "number" ? p.event.depth : 0))) + 1);
  const event: JsonObject = {
    type: fields.type,
    sender: fields.sender,
    content: fields.content,
    depth,
    prev_events: input.prevEvents.map((ref) => eventReference(version, ref)),
    auth_events: input.authEvents.map((ref) => eventReference(version, ref)),
    origin_server_ts: input.originServerTs,
  };
  if (input.roomId !== null) event.room_id = input.roomId;
  if (fields.stateKey !== undefined) event.state_key = fields.stateKey;
  if (fields.redacts !== undefined) {
    if (version.redactsInContent) event.content = { ...fields.content, redacts: fields.redacts };
    else event.redacts = fields.redacts;
  }
  return finishEvent(event, version, input.origin);
}

/**
 * Fills in what the sending server adds to an event (or to a make_join/make_leave/make_knock template): `origin`
 * where the version still signs it, `origin_server_ts` if absent, and a v1–2 event ID of its own.
 */
export function finishEvent(event: JsonObject, version: RoomVersion, origin: string, now?: number): JsonObject {
  const finished: JsonObject = { ...event };
  if (version.redaction.keepOriginMembershipPrevState) finished.origin = origin;
  if (now !== undefined) finished.origin_server_ts = now;
  if (version.eventIdFormat === "opaque") finished.event_id = newOpaqueEventId(origin);
  return finished;
}

/** Signs a built event as `origin` and returns it with its event ID. */
export function signNewEvent(event: JsonObject, version: RoomVersion, origin: string, key: SigningKey): { event: Pdu; eventId: string } {
  const signed = signEvent(event, version, origin, key);
  return { event: signed, eventId: eventIdOf(signed, version) };
}
