/**
 * Scale-out with real processes (DESIGN.md §1, §3): `main` and two federation senders share one PostgreSQL
 * database and a private redis-server. main persists events and writes the events stream; sender1 (in this
 * process) and sender2 (a child process, so it can be SIGKILLed) follow it over Redis and each sends to the
 * destinations it owns. Three real Switchyard receivers join main's room over federation and must end up with
 * every message: after the owner of two of them is killed mid-stream and restarted, and after Redis itself is
 * killed and restarted mid-stream (the senders catch up over get_repl_stream_updates).
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createCaller } from "../../server/api/root";
import { formatSigningKeyFile, generateSigningKey } from "../../server/crypto";
import { federationSenderFor } from "../../server/federation/sender/sharding";
import { startFederation, startTestHomeServer, type TestHomeServer, type TestServerInput } from "../support/homeserver";
import { createTestDatabase } from "../support/postgres";
import { PrivateRedis, freePort, killHard, spawnUntilReady } from "../support/redis-server";
import { WORKER_READY } from "../support/worker-process";
import { waitFor } from "../support/wait";

const ROOT = new URL("../..", import.meta.url).pathname;
const SENDERS = ["sender1", "sender2"];
/** d1 and d2 are sender2's, d5 is sender1's (sha256 sharding): killing sender2 cuts two of three destinations. */
const RECEIVERS = ["d1.test", "d2.test", "d5.test"];

const dir = mkdtempSync(join(tmpdir(), "switchyard-scaleout-"));
let redis: PrivateRedis | undefined;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let receivers: TestHomeServer[] = [];
let main: TestHomeServer;
let sender1: TestHomeServer;
let sender2: ChildProcess | undefined;
let workerInput: (instance: string) => TestServerInput;
let ports: Record<string, number>;
let roomId: string;
let sent = 0;

const api = (server: TestHomeServer) => createCaller({ hs: server.hs, authenticated: true });


const startSender2 = () => spawnUntilReady(process.execPath,
  ["--import", "tsx", "tests/support/worker-process.ts", String(ports.sender2), JSON.stringify(workerInput("sender2"))], WORKER_READY, ROOT);

async function send(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await api(main).rooms.send({ user_id: "@alice:main.test", room_id: roomId, type: "m.room.message", content: { body: `m${sent++}` } });
  }
}

/** Every receiver shows every message sent so far. */
async function allDelivered(what: string): Promise<void> {
  const expected = Array.from({ length: sent }, (_, i) => `m${i}`);
  await waitFor(what, async () => {
    for (const receiver of receivers) {
      const { events } = await api(receiver).rooms.messages({ room_id: roomId, limit: 1000 });
      const bodies = new Set(events.filter((e) => e.type === "m.room.message").map((e) => String(e.content.body)));
      if (!expected.every((b) => bodies.has(b))) return undefined;
    }
    return true;
  }, { timeoutMs: 30_000 });
}

describe("scale-out: main and two federation senders over Redis and PostgreSQL", () => {
  before(async () => {
    redis = await PrivateRedis.start();
    db = await createTestDatabase();
    ports = { main: await freePort(), sender1: await freePort(), sender2: await freePort() };
    const keyPath = join(dir, "signing.key");
    writeFileSync(keyPath, formatSigningKeyFile(generateSigningKey()));

    receivers = await startFederation(RECEIVERS.map((server_name) => ({
      server_name, federation_domain_overrides: { "main.test": `http://127.0.0.1:${ports.main}` },
    })));
    const overrides = Object.fromEntries(receivers.map((r) => [r.serverName, r.baseUrl]));
    // One config for the deployment; each process differs only in role, instance name and port (main.ts's flags).
    workerInput = (instance) => ({
      server_name: "main.test",
      role: instance === "main" ? "main" : "federation_sender",
      instance_name: instance,
      listeners: [{ host: "127.0.0.1", port: ports[instance]! }],
      data_dir: join(dir, instance),
      signing_key_path: keyPath,
      database: { url: db.url },
      redis: { url: redis!.url },
      worker_replication_secret: "scaleout-secret",
      instance_map: Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, { host: "127.0.0.1", port }])),
      federation_sender_instances: SENDERS,
      federation_domain_overrides: overrides,
    });
    main = await startTestHomeServer(workerInput("main"), {}, ports.main);
    sender1 = await startTestHomeServer(workerInput("sender1"), {}, ports.sender1);
    sender2 = await startSender2();

    await api(main).users.create({ localpart: "alice" });
    roomId = (await api(main).rooms.create({ creator: "@alice:main.test", room_version: "10", preset: "public_chat" })).room_id;
    for (const r of receivers) await api(r).users.create({ localpart: "u" });
    for (const r of receivers) await api(r).rooms.join({ user_id: `@u:${r.serverName}`, room: roomId, via: ["main.test"] });
  });

  after(async () => {
    await killHard(sender2);
    await Promise.all([sender1?.stop(), main?.stop(), ...receivers.map((r) => r.stop())]);
    await redis?.kill();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("delivers every event to every destination, each from its one owning sender", async () => {
    assert.equal(main.hs.sender.streamPosition, 0, "main does not send: it is not a federation sender instance");
    await send(10);
    await allDelivered("every receiver to get the first messages");
    await waitFor("the senders' transaction logs", async () => {
      for (const r of RECEIVERS) {
        const rows = await main.hs.stores.sentTransactions.recent(r, 100);
        if (!rows.some((t) => t.outcome === "success")) return undefined;
      }
      return true;
    });
    for (const r of RECEIVERS) {
      const owners = new Set((await main.hs.stores.sentTransactions.recent(r, 100)).map((t) => t.instanceName));
      assert.deepEqual([...owners], [federationSenderFor(r, SENDERS)], `${r} is served by its owner only`);
    }
    assert.deepEqual(new Set(RECEIVERS.map((r) => federationSenderFor(r, SENDERS))), new Set(SENDERS), "both senders have work");
  });

  it("an operator's retry on main reaches the sender that owns the destination", async () => {
    const destination = "d5.test";
    assert.equal(federationSenderFor(destination, SENDERS), "sender1");
    // sender1 saw d5 fail: it holds d5's events for 10 minutes
    await sender1.hs.backoff.recordFailure(destination, new Error("scripted outage"));
    await send(3);
    await waitFor("sender1 to hold d5's events", () => {
      const q = sender1.hs.sender.queueState(destination);
      return q && q.pendingPdus === 3 && !q.transmissionLoopRunning ? true : undefined;
    });
    const retried = await api(main).destinations.retryNow({ destination });
    assert.deepEqual(retried, { destination, owner: "sender1", was_backing_off: true, woken: false }, "main clears the timings; the owner sends");
    await allDelivered("d5's held events after the retry on main");

    // "Retry now" on a destination that is not failing (e.g. stuck) still reaches its owner.
    const ups = () => sender1.hs.replication.commandHandler.stats().inbound.REMOTE_SERVER_UP ?? 0;
    const before = ups();
    assert.equal((await api(main).destinations.retryNow({ destination })).was_backing_off, false);
    await waitFor("REMOTE_SERVER_UP to reach sender1", () => (ups() > before ? true : undefined));
  });

  it("loses nothing when a sender is SIGKILLed mid-stream and restarted", async () => {
    const sending = send(20);
    await waitFor("a few messages to go out", () => (sent >= 15 ? true : undefined));
    await killHard(sender2);
    await sending;
    await send(5);
    sender2 = await startSender2();
    await allDelivered("every message after sender2's restart");
    const written = main.hs.replication.positions.writerToken("events", "main")!;
    await waitFor("the restarted sender's stored events-stream position to reach main's", async () => {
      const stored = await main.hs.stores.federationPositions.get("events", "sender2");
      return stored !== null && stored >= written ? true : undefined;
    });
  });

  it("resyncs over HTTP when Redis restarts mid-stream", async () => {
    const before = sender1.hs.replication.commandHandler.stats();
    const positionBefore = sender1.hs.sender.streamPosition;
    await redis!.kill();
    await waitFor("sender1 to notice Redis is gone", () => (sender1.hs.replication.commandHandler.connected() ? undefined : true));
    // persisted while the bus is down: no RDATA reaches anyone
    await send(5);
    await redis!.restart();
    await send(5);
    await allDelivered("every message after the Redis restart");
    const stats = sender1.hs.replication.commandHandler.stats();
    assert.ok(stats.catchUps > before.catchUps, "the gap was filled with get_repl_stream_updates");
    assert.ok(stats.catchUpRows > before.catchUpRows, "rows came over HTTP");
    assert.ok(sender1.hs.sender.streamPosition > positionBefore, "sender1's events-stream position advanced");
  });
});
