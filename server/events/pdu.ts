/**
 * The shape a PDU must have for hashing, redaction and signing to work on it. Only the fields those algorithms
 * read are checked; everything else passes through untouched, since its meaning belongs to the auth rules.
 */
import { z } from "zod";
import type { JsonObject } from "../crypto";
import type { RoomVersion } from "./room-versions";

export class InvalidEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidEventError";
  }
}

const pduSchema = z.looseObject({
  type: z.string(),
  content: z.record(z.string(), z.unknown()),
  event_id: z.string().optional(),
  room_id: z.string().optional(),
  sender: z.string().optional(),
  hashes: z.record(z.string(), z.unknown()).optional(),
  signatures: z.record(z.string(), z.record(z.string(), z.string())).optional(),
  unsigned: z.record(z.string(), z.unknown()).optional(),
});

export type Pdu = JsonObject & {
  type: string;
  content: JsonObject;
  event_id?: string;
  room_id?: string;
  sender?: string;
  hashes?: JsonObject;
  signatures?: Record<string, Record<string, string>>;
  unsigned?: JsonObject;
};

/** Checks the fields the event crypto relies on; throws InvalidEventError naming the first bad ones. */
export function parsePdu(value: unknown): Pdu {
  if (hasPlainPduShape(value)) return value;
  const result = pduSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "event"}: ${i.message}`);
    throw new InvalidEventError(`invalid event: ${issues.join("; ")}`);
  }
  return value as Pdu;
}

/**
 * Whether `value` passes pduSchema, checked by hand for the usual plain JSON object: every event signed, hashed or
 * verified is checked, and this is several times faster than the schema. It may refuse what the schema accepts (the
 * schema then decides and words the error), never the reverse: keep it in step with pduSchema.
 */
function hasPlainPduShape(value: unknown): value is Pdu {
  if (!isPlainRecord(value) || typeof value.type !== "string" || !isPlainRecord(value.content)) return false;
  for (const key of ["event_id", "room_id", "sender"]) {
    if (value[key] !== undefined && typeof value[key] !== "string") return false;
  }
  for (const key of ["hashes", "unsigned"]) {
    if (value[key] !== undefined && !isPlainRecord(value[key])) return false;
  }
  const signatures = value.signatures;
  if (signatures === undefined) return true;
  if (!isPlainRecord(signatures)) return false;
  return Object.values(signatures).every((byKey) => isPlainRecord(byKey) && Object.values(byKey).every((s) => typeof s === "string"));
}

/** An object with the plain prototype and only string keys: a record to the schema whatever its values. */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype &&
    Object.getOwnPropertySymbols(value).length === 0
  );
}

/**
 * The event as servers exchange it in this room version. From v3 an event ID is derived from the event's
 * reference hash, so a carried `event_id` is not part of the event and would change its own hash; it is dropped
 * (as gomatrixserverlib does). v1–2 events keep theirs: it is signed.
 */
export function toPduJson(event: Pdu, version: RoomVersion): Pdu {
  if (version.eventIdFormat === "opaque" || event.event_id === undefined) return event;
  const { event_id: _derived, ...rest } = event;
  return rest as Pdu;
}

/** The server name of a user, room or event ID (`&localpart:server`). */
export function serverNameOf(id: string): string {
  const colon = id.indexOf(":");
  if (colon < 1 || colon === id.length - 1) throw new InvalidEventError(`${JSON.stringify(id)} has no server name`);
  return id.slice(colon + 1);
}
