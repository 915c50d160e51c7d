/**
 * Validation of a server key response (spec: "Retrieving server keys"): shape, server name, and a self-signature
 * by one of the keys it lists. Used for direct fetches and for each entry a notary returns.
 */
import { z } from "zod";
import { publicKeyFromBase64, verifyJsonSignature, type JsonObject } from "../crypto";
import type { StoredServerKey } from "../store/server-key-store";

const base64Key = z.string().regex(/^[A-Za-z0-9+/_-]+={0,2}$/, "expected base64");

export const serverKeyResponseSchema = z.looseObject({
  server_name: z.string().min(1),
  valid_until_ts: z.number().int().nonnegative(),
  verify_keys: z.record(z.string().regex(/^ed25519:[A-Za-z0-9_]+$/).or(z.string()), z.looseObject({ key: base64Key })),
  old_verify_keys: z.record(z.string(), z.looseObject({ key: base64Key, expired_ts: z.number().int() })).optional(),
  signatures: z.record(z.string(), z.record(z.string(), z.string())),
});

export type ServerKeyResponse = z.infer<typeof serverKeyResponseSchema>;

export class KeyResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyResponseError";
  }
}

/** Checks a key response for `serverName` and turns it into rows to store. Throws KeyResponseError. */
export function verifyKeyResponse(raw: unknown, serverName: string, fromServer: string, fetchedTs: number): StoredServerKey[] {
  const parsed = serverKeyResponseSchema.safeParse(raw);
  if (!parsed.success) throw new KeyResponseError(`malformed key response for ${serverName}: ${parsed.error.issues[0]?.path.join(".")} ${parsed.error.issues[0]?.message}`);
  const response = parsed.data;
  if (response.server_name !== serverName) {
    throw new KeyResponseError(`key response names ${response.server_name}, expected ${serverName}`);
  }
  let verified = false;
  for (const keyId of Object.keys(response.signatures[serverName] ?? {})) {
    const key = response.verify_keys[keyId];
    if (!key || !keyId.startsWith("ed25519:")) continue; // a signature by a retired key proves nothing
    let publicKey;
    try {
      publicKey = publicKeyFromBase64(key.key);
    } catch (e) {
      throw new KeyResponseError(`key ${keyId} of ${serverName}: ${(e as Error).message}`);
    }
    const result = verifyJsonSignature(raw as JsonObject, serverName, keyId, publicKey);
    if (!result.ok) throw new KeyResponseError(`key response for ${serverName}: ${result.reason}`);
    verified = true;
  }
  if (!verified) throw new KeyResponseError(`key response for ${serverName} is not signed by ${serverName} with any key it lists`);
  const keyJson = JSON.stringify(raw);
  const rows: StoredServerKey[] = [];
  for (const [keyId, k] of Object.entries(response.verify_keys)) {
    rows.push({ serverName, keyId, verifyKey: k.key, validUntilTs: response.valid_until_ts, fetchedTs, fromServer, keyJson });
  }
  for (const [keyId, k] of Object.entries(response.old_verify_keys ?? {})) {
    if (response.verify_keys[keyId]) continue;
    rows.push({ serverName, keyId, verifyKey: k.key, validUntilTs: k.expired_ts, fetchedTs, fromServer, keyJson });
  }
  return rows;
}
