/**
 * Event hashes (spec server-server API "Calculating the content hash for an event" and "Calculating the
 * reference hash for an event"), event IDs per room version, and v12 room IDs (MSC4291).
 */
import { hash } from "node:crypto";
import { canonicalJsonWithout, decodeBase64, encodeBase64, encodeBase64Url, type JsonObject } from "../crypto";
import { InvalidEventError, parsePdu, toPduJson } from "./pdu";
import { pruneEvent } from "./redaction";
import type { RoomVersion } from "./room-versions";

/** SHA-256 of the UTF-8 bytes of `text`; the one-shot hash() costs less than a createHash object per call. */
function sha256(text: string): Buffer {
  return hash("sha256", text, "buffer");
}

/** SHA-256 of the canonical JSON of the event without `unsigned`, `signatures` and `hashes`. */
export function computeContentHash(event: JsonObject): Buffer {
  return sha256(canonicalJsonWithout(event, ["unsigned", "signatures", "hashes"]));
}

/** Whether `hashes.sha256` matches the event's content; false when it is missing or not base64. */
export function checkContentHash(event: JsonObject): boolean {
  const hashes = event.hashes;
  const claimed = typeof hashes === "object" && hashes !== null && !Array.isArray(hashes) ? hashes.sha256 : undefined;
  if (typeof claimed !== "string") return false;
  let claimedBytes: Buffer;
  try {
    claimedBytes = decodeBase64(claimed);
  } catch {
    return false;
  }
  return claimedBytes.equals(computeContentHash(event));
}

/**
 * The canonical JSON of the redacted event without `signatures` and `unsigned`: what its reference hash and its
 * signatures both cover, so a caller doing both computes it once.
 */
export function redactedSignedJson(event: JsonObject, version: RoomVersion): string {
  return canonicalJsonWithout(pruneEvent(toPduJson(parsePdu(event), version), version), ["signatures", "unsigned"]);
}

/** SHA-256 of the canonical JSON of the redacted event without `signatures` and `unsigned`. */
export function computeReferenceHash(event: JsonObject, version: RoomVersion, redacted = redactedSignedJson(event, version)): Buffer {
  return sha256(redacted);
}

const OPAQUE_EVENT_ID = /^\$[^:]+:.+$/;

/**
 * The event's ID: carried in v1–2 events, the `$`-prefixed reference hash from v3 (URL-safe from v4).
 * `redacted`: the event's redactedSignedJson, when the caller has it already.
 */
export function computeEventId(event: JsonObject, version: RoomVersion, redacted?: string): string {
  switch (version.eventIdFormat) {
    case "opaque": {
      const id = event.event_id;
      if (typeof id !== "string" || !OPAQUE_EVENT_ID.test(id)) {
        throw new InvalidEventError(`room version ${version.id} events carry an event_id of the form $opaque:server`);
      }
      return id;
    }
    case "reference-hash":
      return "$" + encodeBase64(computeReferenceHash(event, version, redacted));
    case "reference-hash-url-safe":
      return "$" + encodeBase64Url(computeReferenceHash(event, version, redacted));
  }
}

/** The room ID a v12 create event defines: its event ID with the `!` sigil. The create event has no room_id. */
export function computeRoomId(createEvent: JsonObject, version: RoomVersion): string {
  if (version.roomIdFormat !== "create-event-hash") {
    throw new InvalidEventError(`room version ${version.id} room IDs are chosen by the creating server, not derived`);
  }
  const pdu = parsePdu(createEvent);
  if (pdu.type !== "m.room.create") throw new InvalidEventError(`only an m.room.create event defines a room ID, not ${pdu.type}`);
  if (pdu.room_id !== undefined) throw new InvalidEventError(`a room version ${version.id} m.room.create event has no room_id`);
  return "!" + encodeBase64Url(computeReferenceHash(pdu, version));
}
