/**
 * Event signing and verification against raw ed25519 on bytes already serialized: what our canonical JSON,
 * hashing and redaction add on top of the signature itself. Event: a ~1 KB m.room.message in a v10 room.
 */
import { sign, verify } from "node:crypto";
import { canonicalJsonBytes, decodeBase64, signedBytes, signingKeyFromSeed, signJson, verifyJsonSignature, type JsonObject } from "../server/crypto";
import { getRoomVersion, redactEvent, signEvent, verifyEventSignatures } from "../server/events";
import { compareOps, type Benchmark, type BenchRow } from "./harness";

const BUDGET_MS = 500;

const key = signingKeyFromSeed(Buffer.alloc(32, 42), "bench");
const version = getRoomVersion("10");

const message: JsonObject = {
  type: "m.room.message",
  room_id: "!OGEhHVWSdvArJzumhm:matrix.org",
  sender: "@alice:bench.example.org",
  origin_server_ts: 1718000000000,
  depth: 40213,
  prev_events: ["$Ug3X6Cx1nYI6sQDxhX7AAOcQVb5oDR2zq1u0gNqI7Yo"],
  auth_events: [
    "$mDT2qBEXw7Ayl3mQoBg6qUv8UGFCjt2w0vRmWY6MeEo",
    "$fFLnTFE0lVjvNGrvxNY9VfF5kWNSkQdCKt0lG1wV1X8",
    "$bV1R4MpSyD5dUr0Afi9GrY9vATiDp8PhLVZ1Jq3tfTU",
  ],
  content: {
    msgtype: "m.text",
    body: "Federation benchmark message. ".repeat(8).trim(),
    format: "org.matrix.custom.html",
    formatted_body: "<p>Federation <b>benchmark</b> message.</p>".repeat(3),
    "m.mentions": { user_ids: ["@bob:other.example.com"] },
  },
  unsigned: { age_ts: 1718000000000 },
};

const signedEvent = signEvent(message, version, "bench.example.org", key);
const redactedBytes = signedBytes(redactEvent(signedEvent, version));
const eventSignature = decodeBase64(signedEvent.signatures!["bench.example.org"]!["ed25519:bench"]!);
const signedAsJson = signJson(message, "bench.example.org", key);
const jsonBytes = signedBytes(message);
const jsonSignature = decodeBase64((signedAsJson.signatures as Record<string, Record<string, string>>)["bench.example.org"]!["ed25519:bench"]!);
const lookup = () => key.publicKey;

/** A transaction's worth of PDUs, each its own object as parsed from a request body. */
const TRANSACTION_PDUS = 50;
const transaction = Array.from({ length: TRANSACTION_PDUS }, () => structuredClone(signedEvent));
const verifyInPool = (bytes: Buffer) =>
  new Promise<boolean>((resolve, reject) => verify(null, bytes, key.publicKey, eventSignature, (error, ok) => (error ? reject(error) : resolve(ok))));
/** compareOps counts calls; a call here checks a whole transaction. */
const perEvent = (row: BenchRow): BenchRow => ({ ...row, switchyard: row.switchyard * TRANSACTION_PDUS, baseline: row.baseline * TRANSACTION_PDUS, unit: "events/s" });

const benchmark: Benchmark = async () => {
  const size = canonicalJsonBytes(signedEvent).length;
  return [
    await compareOps(
      `signEvent (content hash, redact, canonical JSON, sign) of a ${size} B event vs node:crypto sign of its redacted bytes`,
      () => signEvent(message, version, "bench.example.org", key),
      () => sign(null, redactedBytes, key.privateKey),
      BUDGET_MS,
    ),
    await compareOps(
      "signJson (canonical JSON, sign) of the event vs node:crypto sign of its canonical bytes",
      () => signJson(message, "bench.example.org", key),
      () => sign(null, jsonBytes, key.privateKey),
      BUDGET_MS,
    ),
    perEvent(await compareOps(
      `verifyEventSignatures (redact, canonical JSON, verify on the thread pool) of ${TRANSACTION_PDUS} events at once, as /send checks a transaction, vs node:crypto async verify of their redacted bytes`,
      () => Promise.all(transaction.map((event) => verifyEventSignatures(event, version, lookup))),
      () => Promise.all(transaction.map(() => verifyInPool(redactedBytes))),
      BUDGET_MS,
    )),
    await compareOps(
      "verifyJsonSignature (canonical JSON, verify) vs node:crypto verify of the canonical bytes",
      () => verifyJsonSignature(signedAsJson, "bench.example.org", "ed25519:bench", key.publicKey),
      () => verify(null, jsonBytes, key.publicKey, jsonSignature),
      BUDGET_MS,
    ),
  ];
};

export default benchmark;
