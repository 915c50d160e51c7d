/**
 * PDUs accepted through /send per second, end to end: signed transactions of 50 PDUs from one origin (one in
 * flight, as the spec allows) to a real Switchyard on loopback, where each PDU's signature and content hash are
 * checked, it is staged, and the room's worker runs the auth rules and persists it with its state. Measured on
 * PGlite and on PostgreSQL, against the raw ed25519 verify rate of the same machine in the same run (every PDU
 * costs at least one verify, so that is the ceiling of a single-threaded server).
 */
import { Pool } from "undici";
import { generateSigningKey, signedBytes, signBytes, verifyBytes, type JsonValue, type SigningKey } from "../server/crypto";
import { createCaller } from "../server/api/root";
import { eventIdOf, getRoomVersion, redactEvent, signEvent, type Pdu } from "../server/events";
import { buildXMatrixAuthorization } from "../server/federation/transport/x-matrix";
import { startTestHomeServer, type TestHomeServer } from "../tests/support/homeserver";
import { createTestDatabase } from "../tests/support/postgres";
import { opsPerSecond, type Benchmark, type BenchRow } from "./harness";

const ORIGIN = "origin.bench";
const PDUS = 1500;
const PER_TRANSACTION = 50;
const version = getRoomVersion("10");

async function setUp(databaseUrl: string | undefined): Promise<{ server: TestHomeServer; roomId: string; key: SigningKey; join: Pdu }> {
  const server = await startTestHomeServer({
    server_name: "target.bench",
    ...(databaseUrl ? { database: { url: databaseUrl } } : {}),
    rc_federation: { sleep_limit: 1_000_000, concurrent: 10, reject_limit: 1_000_000 },
  });
  const key = generateSigningKey("bench");
  await server.hs.stores.serverKeys.storeKeys([{
    serverName: ORIGIN, keyId: key.keyId, verifyKey: key.publicKeyBase64, validUntilTs: Date.now() + 86_400_000, fetchedTs: Date.now(), fromServer: ORIGIN, keyJson: "{}",
  }]);
  const api = createCaller({ hs: server.hs, authenticated: true });
  await api.users.create({ localpart: "host" });
  const { room_id: roomId } = await api.rooms.create({ creator: "@host:target.bench", room_version: version.id, preset: "public_chat" });
  const { event } = await server.hs.rooms.eventCreation.buildUnsigned(roomId, {
    type: "m.room.member", sender: `@u:${ORIGIN}`, stateKey: `@u:${ORIGIN}`, content: { membership: "join" },
  });
  return { server, roomId, key, join: signEvent(event, version, ORIGIN, key) };
}

/** A chain of messages from the origin's user, each on the one before, built on the room as the target holds it. */
async function messageChain(server: TestHomeServer, roomId: string, key: SigningKey, count: number): Promise<Pdu[]> {
  const { event: template } = await server.hs.rooms.eventCreation.buildUnsigned(roomId, { type: "m.room.message", sender: `@u:${ORIGIN}`, content: {} });
  const chain: Pdu[] = [];
  let prevEvents: JsonValue = template.prev_events ?? [];
  let depth = template.depth as number;
  for (let i = 0; i < count; i++) {
    const event = signEvent({
      ...template, content: { msgtype: "m.text", body: `message ${i}` }, prev_events: prevEvents, depth: depth++, origin_server_ts: Date.now(),
    }, version, ORIGIN, key);
    prevEvents = [eventIdOf(event, version)];
    chain.push(event);
  }
  return chain;
}

async function sendAll(server: TestHomeServer, key: SigningKey, pdus: Pdu[], label: string): Promise<void> {
  const pool = new Pool(server.baseUrl, { connections: 1 });
  try {
    for (let i = 0; i < pdus.length; i += PER_TRANSACTION) {
      const path = `/_matrix/federation/v1/send/${label}-${i}`;
      const content = { origin: ORIGIN, origin_server_ts: Date.now(), pdus: pdus.slice(i, i + PER_TRANSACTION), edus: [] };
      const authorization = buildXMatrixAuthorization({ method: "PUT", uri: path, origin: ORIGIN, destination: "target.bench", content }, key);
      const res = await pool.request({ path, method: "PUT", headers: { authorization, "content-type": "application/json" }, body: JSON.stringify(content) });
      const body = (await res.body.json()) as { pdus?: Record<string, { error?: string }> };
      const failed = Object.entries(body.pdus ?? {}).filter(([, r]) => r.error);
      if (res.statusCode !== 200 || failed.length > 0) throw new Error(`/send answered ${res.statusCode}: ${JSON.stringify(failed.slice(0, 2))}`);
    }
  } finally {
    await pool.close();
  }
}

/** PDUs per second from the first /send until the last PDU is persisted, with none rejected. */
async function pdusPerSecond(databaseUrl: string | undefined): Promise<number> {
  const { server, roomId, key, join } = await setUp(databaseUrl);
  try {
    await sendAll(server, key, [join], "join");
    await server.hs.rooms.stagingWorkers.idle();
    const chain = await messageChain(server, roomId, key, PDUS);
    await sendAll(server, key, chain.slice(0, 100), "warm");
    await server.hs.rooms.stagingWorkers.idle();
    const measured = chain.slice(100);
    const started = performance.now();
    await sendAll(server, key, measured, "run");
    await server.hs.rooms.stagingWorkers.idle();
    const seconds = (performance.now() - started) / 1000;
    const stored = await server.hs.stores.events.getEvents(measured.map((e) => eventIdOf(e, version)));
    const accepted = [...stored.values()].filter((e) => e.rejectedReason === null && !e.softFailed && !e.outlier).length;
    if (accepted !== measured.length) throw new Error(`only ${accepted} of ${measured.length} PDUs were accepted into the timeline`);
    return measured.length / seconds;
  } finally {
    await server.stop();
  }
}

/** ed25519 verifies per second of a message PDU's signed bytes: the least work any server does per PDU. */
async function verifyRate(): Promise<number> {
  const key = generateSigningKey("baseline");
  const pdu = signEvent({
    type: "m.room.message", room_id: "!room:origin.bench", sender: `@u:${ORIGIN}`, content: { msgtype: "m.text", body: "message 1" },
    depth: 10, prev_events: ["$prev"], auth_events: ["$a", "$b", "$c"], origin_server_ts: Date.now(),
  }, version, ORIGIN, key);
  const message = signedBytes(redactEvent(pdu, version));
  const signature = signBytes(key, message);
  return opsPerSecond(() => verifyBytes(key.publicKey, message, signature), 2000);
}

const rooms: Benchmark = async () => {
  const baseline = await verifyRate();
  const row = (figure: string, value: number): BenchRow => ({
    figure, switchyard: Math.round(value), baseline: Math.round(baseline), unit: "PDUs/s", ratio: Number((value / baseline).toFixed(3)),
  });
  const rows = [row("PDUs accepted through /send and persisted (PGlite) vs raw ed25519 verifies/s", await pdusPerSecond(undefined))];
  const database = await createTestDatabase();
  try {
    rows.push(row("PDUs accepted through /send and persisted (PostgreSQL) vs raw ed25519 verifies/s", await pdusPerSecond(database.url)));
  } finally {
    await database.drop();
  }
  return rows;
};

export default rooms;
