/**
 * Signing and verifying events (spec server-server API "Signing events" and "Validating hashes and signatures
 * on received events"; Synapse add_hashes_and_signatures and _check_sigs_on_pdu). An event's signatures cover
 * its redacted form, so they stay valid when the event is redacted; the content hash covers the rest.
 */
import type { KeyObject } from "node:crypto";
import {
  encodeBase64,
  signBytes,
  signedBytes,
  verifyBytesInPool,
  type JsonObject,
  type SigningKey,
  type VerifyResult,
  withMembers,
} from "../crypto";
import { computeContentHash, computeEventId, redactedSignedJson } from "./hashes";
import { InvalidEventError, parsePdu, serverNameOf, toPduJson, type Pdu } from "./pdu";
import { pruneEvent } from "./redaction";
import type { RoomVersion } from "./room-versions";

/**
 * Returns a copy of `event` with its content hash set and `serverName`'s signature added to any already there.
 * v1–2 events must carry their `$opaque:server` event_id (it is signed); from v3 a carried event_id is dropped.
 */
export function signEvent(event: JsonObject, version: RoomVersion, serverName: string, key: SigningKey): Pdu {
  const pdu = toPduJson(parsePdu(event), version);
  if (version.eventIdFormat === "opaque") computeEventId(pdu, version);
  const hashes = { ...pdu.hashes, sha256: encodeBase64(computeContentHash(pdu)) };
  // Redaction keeps `hashes` whole, so this is the redacted form of the event with the new hashes. Redacting `pdu`
  // rather than a `{ ...pdu, hashes }` copy saves time: V8 gives every such copy a hidden class of its own, which
  // makes reading its keys slow.
  const redacted = pruneEvent(pdu, version);
  redacted.hashes = hashes;
  const signature = signBytes(key, signedBytes(redacted));
  const signatures = { ...pdu.signatures, [serverName]: { ...pdu.signatures?.[serverName], [key.keyId]: signature } };
  return withMembers(pdu, { hashes, signatures });
}

/**
 * The servers whose signatures an event needs: the sender's (except on an invite made from a third-party
 * invite, whose sender may be on another server), the event ID's in v1–2, and from v8 the server of
 * `join_authorised_via_users_server` on a join.
 */
export function requiredSignatureServers(event: JsonObject, version: RoomVersion): string[] {
  return requiredSignatureServersOf(parsePdu(event), version);
}

function requiredSignatureServersOf(pdu: Pdu, version: RoomVersion): string[] {
  const { membership } = pdu.content;
  const servers = new Set<string>();
  const isThirdPartyInvite = pdu.type === "m.room.member" && membership === "invite" && "third_party_invite" in pdu.content;
  if (!isThirdPartyInvite) {
    if (pdu.sender === undefined) throw new InvalidEventError("invalid event: sender is missing");
    servers.add(serverNameOf(pdu.sender));
  }
  if (version.eventIdFormat === "opaque") servers.add(serverNameOf(computeEventId(pdu, version)));
  const authoriser = pdu.content.join_authorised_via_users_server;
  if (version.restrictedJoinRule && pdu.type === "m.room.member" && membership === "join" && typeof authoriser === "string") {
    servers.add(serverNameOf(authoriser));
  }
  return [...servers];
}

/**
 * Finds `serverName`'s public key `keyId`, valid at `validAtTs` (0: any time, for room versions before 5).
 * Throws when the key cannot be found; the Keyring's getVerifyKey fits.
 */
export type VerifyKeyLookup = (serverName: string, keyId: string, validAtTs: number) => KeyObject | Promise<KeyObject>;

/**
 * Checks every required server's signatures on the redacted event. Like Synapse, each signature whose key can be
 * found must verify, and each server needs at least one. Never throws for a bad event: it is reported as invalid.
 * `redacted`: the event's redactedSignedJson, when the caller has it already (it computed the event ID).
 */
export async function verifyEventSignatures(
  event: JsonObject, version: RoomVersion, lookupKey: VerifyKeyLookup, redacted?: string,
): Promise<VerifyResult> {
  let pdu: Pdu;
  let servers: string[];
  let message: Buffer;
  try {
    pdu = toPduJson(parsePdu(event), version);
    servers = requiredSignatureServersOf(pdu, version);
    message = Buffer.from(redacted ?? redactedSignedJson(pdu, version), "utf8");
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  let validAtTs = 0;
  if (version.enforceKeyValidity) {
    if (typeof pdu.origin_server_ts !== "number") return { ok: false, reason: "invalid event: origin_server_ts is missing" };
    validAtTs = pdu.origin_server_ts;
  }
  for (const server of servers) {
    // Only ed25519 is defined; signatures with algorithms we do not know are ignored, as the spec says.
    const signatures = Object.entries(pdu.signatures?.[server] ?? {}).filter(([keyId]) => keyId.startsWith("ed25519:"));
    if (signatures.length === 0) return { ok: false, reason: `not signed by ${server}` };
    let verified = false;
    let lookupFailure = "";
    for (const [keyId, signature] of signatures) {
      let publicKey: KeyObject;
      try {
        publicKey = await lookupKey(server, keyId, validAtTs);
      } catch (e) {
        lookupFailure = (e as Error).message;
        continue;
      }
      if (!(await verifyBytesInPool(publicKey, message, signature))) {
        return { ok: false, reason: `bad signature from ${server} with key ${keyId}` };
      }
      verified = true;
    }
    if (!verified) return { ok: false, reason: `no usable key of ${server}: ${lookupFailure}` };
  }
  return { ok: true };
}
