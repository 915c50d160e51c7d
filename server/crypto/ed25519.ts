/**
 * Ed25519 on node:crypto (about 150x tweetnacl here; identical signatures). Keys are held as KeyObjects so the
 * DER import happens once per key, not once per signature.
 */
import { createPrivateKey, createPublicKey, KeyObject, randomBytes, sign, verify } from "node:crypto";
import { decodeBase64, encodeBase64 } from "./base64";

const PKCS8_SEED_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const KEY_VERSION = /^[A-Za-z0-9_]+$/;

export interface SigningKey {
  /** "ed25519:<version>" */
  keyId: string;
  version: string;
  seed: Buffer;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** raw 32-byte public key, unpadded base64 */
  publicKeyBase64: string;
}

export function signingKeyFromSeed(seed: Uint8Array, version: string): SigningKey {
  if (seed.length !== 32) throw new Error(`ed25519 seed must be 32 bytes, got ${seed.length}`);
  if (!KEY_VERSION.test(version)) throw new Error(`invalid key version "${version}": use [A-Za-z0-9_]`);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_SEED_PREFIX, seed]), format: "der", type: "pkcs8" });
  const publicKey = createPublicKey(privateKey);
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(SPKI_PREFIX.length);
  return {
    keyId: `ed25519:${version}`,
    version,
    seed: Buffer.from(seed),
    privateKey,
    publicKey,
    publicKeyBase64: encodeBase64(raw),
  };
}

export function generateSigningKey(version = randomVersion()): SigningKey {
  return signingKeyFromSeed(randomBytes(32), version);
}

function randomVersion(): string {
  return "a_" + randomBytes(3).toString("base64url").replace(/[^A-Za-z0-9]/g, "x");
}

/** Parses Synapse's signing key file: one key per line, "ed25519 <version> <unpadded base64 seed>". */
export function parseSigningKeyFile(text: string): SigningKey[] {
  const keys: SigningKey[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const parts = line.split(/\s+/);
    if (parts.length !== 3 || parts[0] !== "ed25519") {
      throw new Error(`signing key file line ${i + 1}: expected "ed25519 <version> <base64 seed>"`);
    }
    let seed: Buffer;
    try {
      seed = decodeBase64(parts[2]!);
    } catch {
      throw new Error(`signing key file line ${i + 1}: seed is not base64`);
    }
    keys.push(signingKeyFromSeed(seed, parts[1]!));
  });
  if (keys.length === 0) throw new Error("signing key file holds no key");
  return keys;
}

export function formatSigningKeyFile(key: SigningKey): string {
  return `ed25519 ${key.version} ${encodeBase64(key.seed)}\n`;
}

const publicKeyCache = new Map<string, KeyObject>();

/** Imports a raw 32-byte public key given as (unpadded) base64; cached, since verification repeats per key. */
export function publicKeyFromBase64(base64: string): KeyObject {
  let key = publicKeyCache.get(base64);
  if (!key) {
    const raw = decodeBase64(base64);
    if (raw.length !== 32) throw new Error(`ed25519 public key must be 32 bytes, got ${raw.length}`);
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
    if (publicKeyCache.size > 10_000) publicKeyCache.clear();
    publicKeyCache.set(base64, key);
  }
  return key;
}

export function signBytes(key: SigningKey, message: Uint8Array): string {
  return encodeBase64(sign(null, message, key.privateKey));
}

export function verifyBytes(publicKey: KeyObject, message: Uint8Array, signatureBase64: string): boolean {
  const signature = decodeSignature(signatureBase64);
  return signature !== null && verify(null, message, publicKey, signature);
}

/**
 * verifyBytes on libuv's thread pool. The event loop spends about 13 µs on the call instead of 80 µs on the
 * check, and the checks of a transaction's PDUs run side by side on every core.
 */
export function verifyBytesInPool(publicKey: KeyObject, message: Uint8Array, signatureBase64: string): Promise<boolean> {
  const signature = decodeSignature(signatureBase64);
  if (signature === null) return Promise.resolve(false);
  return new Promise((resolve, reject) => verify(null, message, publicKey, signature, (error, ok) => (error ? reject(error) : resolve(ok))));
}

/** The 64 signature bytes, or null when the base64 is malformed or the length wrong. */
function decodeSignature(signatureBase64: string): Buffer | null {
  let signature: Buffer;
  try {
    signature = decodeBase64(signatureBase64);
  } catch {
    return null;
  }
  return signature.length === 64 ? signature : null;
}
