import assert from "node:assert/strict";
import { describe, test } from "node:test";
import nacl from "tweetnacl";
import {
  decodeBase64,
  formatSigningKeyFile,
  generateSigningKey,
  parseSigningKeyFile,
  publicKeyFromBase64,
  signBytes,
  signingKeyFromSeed,
  verifyBytes,
  verifyBytesInPool,
} from "../../server/crypto";

const SPEC_SEED = decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1");
// The public key of the spec appendix seed, as Ruma's documentation also lists it.
const SPEC_PUBLIC_KEY = "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI";

describe("ed25519 keys", () => {
  test("derives the spec seed's public key", () => {
    const key = signingKeyFromSeed(SPEC_SEED, "1");
    assert.equal(key.keyId, "ed25519:1");
    assert.equal(key.publicKeyBase64, SPEC_PUBLIC_KEY);
  });

  test("refuses a seed that is not 32 bytes and a version with other characters", () => {
    assert.throws(() => signingKeyFromSeed(SPEC_SEED.subarray(1), "1"), /32 bytes, got 31/);
    assert.throws(() => signingKeyFromSeed(SPEC_SEED, "a:b"), /invalid key version/);
  });

  test("reads and writes Synapse's signing key file", () => {
    const text = "ed25519 a_abcd YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1\n";
    const [key, ...rest] = parseSigningKeyFile(text);
    assert.equal(rest.length, 0);
    assert.equal(key!.keyId, "ed25519:a_abcd");
    assert.equal(key!.publicKeyBase64, SPEC_PUBLIC_KEY);
    // The spec's seed has non-zero bits past its 32 bytes; written back, it takes the canonical form.
    assert.equal(formatSigningKeyFile(key!), "ed25519 a_abcd YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0\n");
  });

  test("reads several keys and skips blank lines", () => {
    const keys = parseSigningKeyFile("\ned25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1\n\n  ed25519 2 " + "A".repeat(43) + "  \n");
    assert.deepEqual(keys.map((k) => k.keyId), ["ed25519:1", "ed25519:2"]);
  });

  test("explains a bad key file by line", () => {
    assert.throws(() => parseSigningKeyFile(""), /holds no key/);
    assert.throws(() => parseSigningKeyFile("ed25519 1"), /line 1: expected "ed25519 <version> <base64 seed>"/);
    assert.throws(() => parseSigningKeyFile("\nrsa 1 AAAA"), /line 2: expected/);
    assert.throws(() => parseSigningKeyFile("ed25519 1 not!base64"), /line 1: seed is not base64/);
    assert.throws(() => parseSigningKeyFile("ed25519 1 AAAA"), /32 bytes, got 3/);
  });

  test("generates distinct keys with a Synapse-style version", () => {
    const a = generateSigningKey();
    const b = generateSigningKey("v2");
    assert.match(a.version, /^a_[A-Za-z0-9]{4}$/);
    assert.equal(b.keyId, "ed25519:v2");
    assert.notDeepEqual(a.seed, b.seed);
    assert.equal(parseSigningKeyFile(formatSigningKeyFile(a))[0]!.publicKeyBase64, a.publicKeyBase64);
  });

  test("refuses a public key that is not 32 bytes", () => {
    assert.throws(() => publicKeyFromBase64("AAAA"), /32 bytes, got 3/);
  });
});

describe("ed25519 signatures: cross-check with tweetnacl", () => {
  const key = signingKeyFromSeed(SPEC_SEED, "1");
  const pair = nacl.sign.keyPair.fromSeed(SPEC_SEED);
  const messages = [Buffer.alloc(0), Buffer.from("{}"), Buffer.from("x".repeat(1024)), Buffer.from([0, 255, 128, 7])];

  test("tweetnacl derives the same public key", () => {
    assert.equal(Buffer.from(pair.publicKey).toString("base64").replace(/=+$/, ""), key.publicKeyBase64);
  });

  test("signatures are identical (ed25519 is deterministic)", () => {
    for (const message of messages) {
      const ours = decodeBase64(signBytes(key, message));
      assert.deepEqual(ours, Buffer.from(nacl.sign.detached(message, pair.secretKey)));
    }
  });

  test("each verifies the other's signatures and rejects altered ones", () => {
    const publicKey = publicKeyFromBase64(key.publicKeyBase64);
    for (const message of messages) {
      const ours = signBytes(key, message);
      assert.ok(nacl.sign.detached.verify(message, decodeBase64(ours), pair.publicKey));
      const theirs = Buffer.from(nacl.sign.detached(message, pair.secretKey)).toString("base64");
      assert.ok(verifyBytes(publicKey, message, theirs));
      assert.equal(verifyBytes(publicKey, Buffer.concat([message, Buffer.from("!")]), ours), false);
    }
  });

  test("verifyBytes returns false, not throws, for malformed signatures", () => {
    const publicKey = publicKeyFromBase64(key.publicKeyBase64);
    assert.equal(verifyBytes(publicKey, Buffer.from("{}"), "not base64!"), false);
    assert.equal(verifyBytes(publicKey, Buffer.from("{}"), "AAAA"), false);
  });

  test("verifyBytesInPool agrees with verifyBytes: tweetnacl's signatures pass, altered messages and malformed signatures fail", async () => {
    const publicKey = publicKeyFromBase64(key.publicKeyBase64);
    for (const message of messages) {
      const theirs = Buffer.from(nacl.sign.detached(message, pair.secretKey)).toString("base64");
      assert.equal(await verifyBytesInPool(publicKey, message, theirs), true);
      assert.equal(await verifyBytesInPool(publicKey, Buffer.concat([message, Buffer.from("!")]), theirs), false);
    }
    assert.equal(await verifyBytesInPool(publicKey, Buffer.from("{}"), "not base64!"), false);
    assert.equal(await verifyBytesInPool(publicKey, Buffer.from("{}"), "AAAA"), false);
  });
});
