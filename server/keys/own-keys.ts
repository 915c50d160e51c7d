/**
 * Our signing keys: the current key from Synapse's key file (created on first start) and retired keys from
 * `old_signing_keys`, published in our server key document.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { formatSigningKeyFile, generateSigningKey, parseSigningKeyFile, signJson, type JsonObject, type SigningKey } from "../crypto";

export interface OldVerifyKey {
  key: string;
  expired_ts: number;
}

/** Reads the key file, or creates one (mode 0600) when there is none yet. */
export function loadOrCreateSigningKey(path: string): { key: SigningKey; created: boolean } {
  if (existsSync(path)) {
    let keys: SigningKey[];
    try {
      keys = parseSigningKeyFile(readFileSync(path, "utf8"));
    } catch (e) {
      throw new Error(`signing key file ${path}: ${(e as Error).message}`);
    }
    return { key: keys[0]!, created: false };
  }
  const key = generateSigningKey();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, formatSigningKeyFile(key), { mode: 0o600, flag: "wx" });
  return { key, created: true };
}

export class OwnKeys {
  constructor(
    readonly serverName: string,
    readonly signingKey: SigningKey,
    readonly oldVerifyKeys: Record<string, OldVerifyKey>,
    private readonly keyRefreshIntervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Public keys by id, current and retired, as a verifier would look them up. */
  verifyKeyBase64(keyId: string): { key: string; expiredTs?: number } | undefined {
    if (keyId === this.signingKey.keyId) return { key: this.signingKey.publicKeyBase64 };
    const old = this.oldVerifyKeys[keyId];
    return old && { key: old.key, expiredTs: old.expired_ts };
  }

  /** The self-signed document served at /_matrix/key/v2/server. */
  serverKeyDocument(): JsonObject {
    const doc: JsonObject = {
      server_name: this.serverName,
      valid_until_ts: this.now() + this.keyRefreshIntervalMs,
      verify_keys: { [this.signingKey.keyId]: { key: this.signingKey.publicKeyBase64 } },
      old_verify_keys: Object.fromEntries(Object.entries(this.oldVerifyKeys).map(([id, k]) => [id, { key: k.key, expired_ts: k.expired_ts }])),
    };
    return signJson(doc, this.serverName, this.signingKey);
  }

  sign<T extends JsonObject>(object: T): T {
    return signJson(object, this.serverName, this.signingKey);
  }
}
