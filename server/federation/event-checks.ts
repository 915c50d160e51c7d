/**
 * The checks every PDU from another server gets before anything else looks at it, whether it came in a
 * transaction, a send_join response, or an answer to /event, /state, /backfill or get_missing_events (spec
 * "Checks performed on receipt of a PDU", steps 1–2; Synapse FederationBase._check_sigs_and_hash): a well-formed
 * event of the room version within the size limits, signed by every server that must sign it. A content hash
 * mismatch does not refuse the event: only its redacted form is kept.
 */
import { canonicalJsonBytes, type JsonObject } from "../crypto";
import {
  checkContentHash, computeEventId, InvalidEventError, listedAuthEventIdsOf, parsePdu, prevEventIdsOf, redactEvent,
  redactedSignedJson, toPduJson, verifyEventSignatures, type Pdu, type RoomVersion,
} from "../events";
import type { Keyring } from "../keys/keyring";

/** Spec: a PDU is at most 65536 bytes as canonical JSON; `type` and `state_key` at most 255 bytes. */
export const MAX_PDU_BYTES = 65536;
export const MAX_PDU_FIELD_BYTES = 255;
/** Spec: at most 20 prev_events and 10 auth_events. */
const MAX_PREV_EVENTS = 20;
const MAX_AUTH_EVENTS = 10;

export type PduCheck =
  | { ok: true; event: Pdu; eventId: string; redacted: boolean }
  /** `eventId` is absent when the event could not even be identified */
  | { ok: false; eventId?: string; reason: string };

/** The spec's size limits on a PDU, or null when it keeps to them. */
export function checkPduLimits(pdu: JsonObject): string | null {
  let size: number;
  try {
    size = canonicalJsonBytes(pdu).length;
  } catch (e) {
    return `Event is not canonical JSON: ${(e as Error).message}`;
  }
  if (size > MAX_PDU_BYTES) return `Event is ${size} bytes, over the limit of ${MAX_PDU_BYTES}`;
  if (typeof pdu.type === "string" && Buffer.byteLength(pdu.type) > MAX_PDU_FIELD_BYTES) return "Event type is over 255 bytes";
  if (typeof pdu.state_key === "string" && Buffer.byteLength(pdu.state_key) > MAX_PDU_FIELD_BYTES) return "state_key is over 255 bytes";
  return null;
}

/** The fields the room's algorithms rely on (Synapse validate_event_for_room_version), or why the event lacks them. */
export function checkEventFormat(pdu: Pdu, version: RoomVersion): string | null {
  if (typeof pdu.sender !== "string" || !pdu.sender.startsWith("@") || !pdu.sender.includes(":")) return "sender is not a user ID";
  const isV12Create = pdu.type === "m.room.create" && version.roomIdFormat === "create-event-hash";
  if (isV12Create ? pdu.room_id !== undefined : typeof pdu.room_id !== "string") return "room_id is missing or not allowed";
  if (typeof pdu.depth !== "number" || !Number.isInteger(pdu.depth) || pdu.depth < 0) return "depth is not a non-negative integer";
  if (typeof pdu.origin_server_ts !== "number" || !Number.isInteger(pdu.origin_server_ts)) return "origin_server_ts is not an integer";
  if (pdu.state_key !== undefined && typeof pdu.state_key !== "string") return "state_key is not a string";
  try {
    if (prevEventIdsOf(pdu, version).length > MAX_PREV_EVENTS) return `more than ${MAX_PREV_EVENTS} prev_events`;
    if (listedAuthEventIdsOf(pdu, version).length > MAX_AUTH_EVENTS) return `more than ${MAX_AUTH_EVENTS} auth_events`;
  } catch (e) {
    if (e instanceof InvalidEventError) return e.message;
    throw e;
  }
  if (!Array.isArray(pdu.prev_events) || !Array.isArray(pdu.auth_events)) return "prev_events or auth_events is missing";
  return null;
}

/** Runs the receipt checks on one PDU of a room whose version is known. Never throws for a bad event. */
export async function checkPdu(raw: unknown, version: RoomVersion, keyring: Keyring): Promise<PduCheck> {
  let pdu: Pdu;
  let eventId: string;
  let redacted: string;
  try {
    pdu = toPduJson(parsePdu(raw), version);
    redacted = redactedSignedJson(pdu, version);
    eventId = computeEventId(pdu, version, redacted);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  const problem = checkPduLimits(pdu) ?? checkEventFormat(pdu, version);
  if (problem) return { ok: false, eventId, reason: problem };
  const signatures = await verifyEventSignatures(pdu, version, async (server, keyId, validAtTs) =>
    (await keyring.getVerifyKey(server, keyId, validAtTs)).publicKey, redacted);
  if (!signatures.ok) return { ok: false, eventId, reason: `Signature check failed: ${signatures.reason}` };
  const hashOk = checkContentHash(pdu);
  return { ok: true, event: hashOk ? pdu : redactEvent(pdu, version), eventId, redacted: !hashOk };
}
