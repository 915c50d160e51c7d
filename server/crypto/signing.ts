/**
 * Signing JSON (spec appendix "Signing JSON"): the canonical JSON of the object without its top-level
 * `signatures` and `unsigned` is signed; signatures from other servers and keys are kept.
 */
import type { KeyObject } from "node:crypto";
import { canonicalJsonWithout, type JsonObject } from "./canonical-json";
import { signBytes, verifyBytes, type SigningKey } from "./ed25519";
import { withMembers } from "./json-object";

export type Signatures = Record<string, Record<string, string>>;

/** The bytes that are signed: canonical JSON without top-level `signatures` and `unsigned`. */
export function signedBytes(object: JsonObject): Buffer {
  return Buffer.from(canonicalJsonWithout(object, ["signatures", "unsigned"]), "utf8");
}

/** Returns a copy of `object` with our signature added to any already there. */
export function signJson<T extends JsonObject>(object: T, serverName: string, key: SigningKey): T {
  const signature = signBytes(key, signedBytes(object));
  const existing = (object.signatures ?? {}) as Signatures;
  const signatures: Signatures = { ...existing, [serverName]: { ...(existing[serverName] ?? {}), [key.keyId]: signature } };
  return withMembers(object, { signatures });
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** Checks that `object` carries a valid signature by `serverName` with `keyId`. */
export function verifyJsonSignature(object: JsonObject, serverName: string, keyId: string, publicKey: KeyObject): VerifyResult {
  const sigs = object.signatures as Signatures | undefined;
  if (!sigs || typeof sigs !== "object") return { ok: false, reason: "no signatures" };
  const byServer = sigs[serverName];
  if (!byServer || typeof byServer !== "object") return { ok: false, reason: `not signed by ${serverName}` };
  const signature = byServer[keyId];
  if (typeof signature !== "string") return { ok: false, reason: `no signature from ${serverName} with key ${keyId}` };
  let message: Buffer;
  try {
    message = signedBytes(object);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  return verifyBytes(publicKey, message, signature) ? { ok: true } : { ok: false, reason: `bad signature from ${serverName} with key ${keyId}` };
}

/** The ed25519 key ids a server signed with. */
export function signatureKeyIds(object: JsonObject, serverName: string): string[] {
  const byServer = (object.signatures as Signatures | undefined)?.[serverName];
  return byServer && typeof byServer === "object" ? Object.keys(byServer).filter((k) => k.startsWith("ed25519:")) : [];
}
