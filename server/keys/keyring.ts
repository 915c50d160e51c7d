/**
 * Keyring: remote servers' verify keys. Looks in the database first; fetches from the server itself, then from
 * each `trusted_key_servers` notary; stores what it verified; serves cached keys when every source fails.
 * Lookups for one server share one fetch, and a server whose fetch failed is not asked again for a minute.
 */
import type { KeyObject } from "node:crypto";
import { publicKeyFromBase64, verifyJsonSignature, signatureKeyIds, type JsonObject } from "../crypto";
import type { ServerKeyStore, StoredServerKey } from "../store/server-key-store";
import { KeyResponseError, verifyKeyResponse } from "./key-response";
import type { OwnKeys } from "./own-keys";

/** The spec caps a remote key's validity at 7 days from when it was fetched (room versions ≥ 5). */
export const MAX_KEY_VALIDITY_MS = 7 * 24 * 3600 * 1000;
const FAILED_FETCH_PAUSE_MS = 60_000;
/** Verify keys kept in memory; every inbound request needs one, and the database is the slow path. */
const MEMORY_CACHE_SIZE = 50_000;

export type KeyQueryRequest = Record<string, Record<string, { minimum_valid_until_ts?: number }>>;

/** How the Keyring reaches other servers; implemented over the federation HTTP client. */
export interface KeyFetcher {
  /** GET /_matrix/key/v2/server on `serverName` itself. */
  fetchServerKeys(serverName: string): Promise<unknown>;
  /** POST /_matrix/key/v2/query on `notary`; returns the `server_keys` array. */
  queryNotary(notary: string, request: KeyQueryRequest): Promise<unknown[]>;
}

export interface TrustedKeyServer {
  server_name: string;
  verify_keys?: Record<string, string>;
}

export interface VerifyKey {
  keyId: string;
  publicKey: KeyObject;
  /** the key may be used to check signatures made up to this time */
  validUntilTs: number;
}

export class KeyLookupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyLookupError";
  }
}

export class Keyring {
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly lastFailure = new Map<string, { at: number; reason: string }>();
  private readonly memory = new Map<string, StoredServerKey>();

  constructor(
    private readonly ownKeys: OwnKeys,
    private readonly store: ServerKeyStore,
    private readonly fetcher: KeyFetcher,
    private readonly trustedKeyServers: TrustedKeyServer[],
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The key `keyId` of `serverName`, valid at `validAtTs` (spec: the lesser of valid_until_ts and 7 days after
   * fetching). Fetches when it is not cached or not valid long enough. Throws KeyLookupError.
   */
  async getVerifyKey(serverName: string, keyId: string, validAtTs: number = this.now()): Promise<VerifyKey> {
    if (serverName === this.ownKeys.serverName) {
      const own = this.ownKeys.verifyKeyBase64(keyId);
      if (!own) throw new KeyLookupError(`we have no key ${keyId}`);
      return { keyId, publicKey: publicKeyFromBase64(own.key), validUntilTs: own.expiredTs ?? Number.MAX_SAFE_INTEGER };
    }
    let stored = await this.storedKey(serverName, keyId);
    if (!stored || effectiveValidUntil(stored) < validAtTs) {
      await this.refresh(serverName, { [keyId]: { minimum_valid_until_ts: validAtTs } });
      stored = (await this.storedKey(serverName, keyId, true)) ?? stored;
    }
    if (!stored) throw new KeyLookupError(`no key ${keyId} for ${serverName} could be found${this.failureSuffix(serverName)}`);
    if (effectiveValidUntil(stored) < validAtTs) {
      const until = new Date(effectiveValidUntil(stored)).toISOString();
      throw new KeyLookupError(`key ${keyId} of ${serverName} is valid until ${until}, not at ${new Date(validAtTs).toISOString()}${this.failureSuffix(serverName)}`);
    }
    return { keyId, publicKey: publicKeyFromBase64(stored.verifyKey), validUntilTs: effectiveValidUntil(stored) };
  }

  /**
   * Checks that `object` carries a valid signature from `serverName` with a key valid at `validAtTs`.
   * Throws KeyLookupError when no key can be found or when a signature is bad.
   */
  async verifyJsonForServer(object: JsonObject, serverName: string, validAtTs: number = this.now()): Promise<void> {
    const keyIds = signatureKeyIds(object, serverName);
    if (keyIds.length === 0) throw new KeyLookupError(`not signed by ${serverName}`);
    let lastError: Error | undefined;
    for (const keyId of keyIds) {
      try {
        const key = await this.getVerifyKey(serverName, keyId, validAtTs);
        const result = verifyJsonSignature(object, serverName, keyId, key.publicKey);
        if (!result.ok) throw new KeyLookupError(result.reason);
        return;
      } catch (e) {
        lastError = e as Error;
      }
    }
    throw lastError instanceof KeyLookupError ? lastError : new KeyLookupError(String(lastError?.message));
  }

  /** A stored key, from memory when this process has read it before (keys only ever get longer-lived). */
  private async storedKey(serverName: string, keyId: string, fresh = false): Promise<StoredServerKey | null> {
    const id = `${serverName} ${keyId}`;
    const remembered = this.memory.get(id);
    if (remembered && !fresh) return remembered;
    const stored = await this.store.getKey(serverName, keyId);
    if (stored) {
      if (this.memory.size >= MEMORY_CACHE_SIZE) this.memory.delete(this.memory.keys().next().value!);
      this.memory.set(id, stored);
    }
    return stored;
  }

  /** Cached keys of a server, for the console and the notary endpoint. */
  cachedKeys(serverName: string): Promise<StoredServerKey[]> {
    return this.store.getKeys(serverName);
  }

  /**
   * The key responses to serve as a notary for `serverName`: refreshed first when none stored is valid until
   * `minimumValidUntilTs`; when the server cannot be reached, the last ones known (the requester judges them).
   */
  async keyResponsesFor(serverName: string, minimumValidUntilTs: number): Promise<JsonObject[]> {
    let keys = await this.store.getKeys(serverName);
    if (!keys.some((k) => k.validUntilTs >= minimumValidUntilTs)) {
      await this.refresh(serverName, {});
      keys = await this.store.getKeys(serverName);
    }
    const distinct = new Set(keys.map((k) => k.keyJson));
    return [...distinct].map((text) => JSON.parse(text) as JsonObject);
  }

  /**
   * Fetches a server's keys now (direct, then notaries). Never throws: callers re-read the store, so cached keys
   * still serve when every source is down; the reason is kept for their error messages.
   */
  refresh(serverName: string, wanted: Record<string, { minimum_valid_until_ts?: number }>): Promise<void> {
    const failure = this.lastFailure.get(serverName);
    if (failure && this.now() - failure.at < FAILED_FETCH_PAUSE_MS) return Promise.resolve();
    let pending = this.inflight.get(serverName);
    if (!pending) {
      pending = this.fetchAndStore(serverName, wanted)
        .then(() => void this.lastFailure.delete(serverName))
        .catch((e: Error) => void this.lastFailure.set(serverName, { at: this.now(), reason: e.message }))
        .finally(() => this.inflight.delete(serverName));
      this.inflight.set(serverName, pending);
    }
    return pending;
  }

  /** Forgets a recorded fetch failure, e.g. when the server has just proven to be up. */
  forgetFailure(serverName: string): void {
    this.lastFailure.delete(serverName);
  }

  private failureSuffix(serverName: string): string {
    const failure = this.lastFailure.get(serverName);
    return failure ? ` (last fetch failed: ${failure.reason})` : "";
  }

  private async fetchAndStore(serverName: string, wanted: Record<string, { minimum_valid_until_ts?: number }>): Promise<void> {
    const errors: string[] = [];
    try {
      const response = await this.fetcher.fetchServerKeys(serverName);
      await this.store.storeKeys(verifyKeyResponse(response, serverName, serverName, this.now()));
      return;
    } catch (e) {
      errors.push(`${serverName}: ${(e as Error).message}`);
    }
    for (const notary of this.trustedKeyServers) {
      try {
        const entries = await this.fetcher.queryNotary(notary.server_name, { [serverName]: wanted });
        let stored = 0;
        for (const entry of entries) {
          if (!entry || typeof entry !== "object" || (entry as JsonObject).server_name !== serverName) continue;
          await this.checkNotarySignature(entry as JsonObject, notary);
          const rows = verifyKeyResponse(entry, serverName, notary.server_name, this.now());
          await this.store.storeKeys(rows);
          stored += rows.length;
        }
        if (stored > 0) return;
        errors.push(`${notary.server_name}: no keys for ${serverName}`);
      } catch (e) {
        errors.push(`${notary.server_name}: ${(e as Error).message}`);
      }
    }
    throw new KeyLookupError(`cannot fetch keys of ${serverName} (${errors.join("; ")})`);
  }

  private async checkNotarySignature(entry: JsonObject, notary: TrustedKeyServer): Promise<void> {
    if (!notary.verify_keys || Object.keys(notary.verify_keys).length === 0) {
      await this.verifyJsonForServer(entry, notary.server_name);
      return;
    }
    for (const [keyId, key] of Object.entries(notary.verify_keys)) {
      if (verifyJsonSignature(entry, notary.server_name, keyId, publicKeyFromBase64(key)).ok) return;
    }
    throw new KeyResponseError(`response not signed by notary ${notary.server_name} with a configured key`);
  }
}

function effectiveValidUntil(key: StoredServerKey): number {
  return Math.min(key.validUntilTs, key.fetchedTs + MAX_KEY_VALIDITY_MS);
}
