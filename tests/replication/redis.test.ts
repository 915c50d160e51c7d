import assert from "node:assert/strict";
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { after, afterEach, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { createObserver, createReplication, type Replication } from "../../server/replication";
import { ReplicationHttpClient, makeHttpUpdateFunction } from "../../server/replication/http-updates";
import { RedisTransport } from "../../server/replication/redis";
import { EventsStream, FederationStream, MemoryStreamWriter, TypingStream, eventRow } from "../../server/replication/streams";
import { collect, log, rowsOf, SECRET, startReplicationServer, uniqueServerName, waitFor, type ReplicationServer } from "./helpers";

const REDIS_URL = process.env.SWITCHYARD_TEST_REDIS ?? "redis://127.0.0.1:6379";
const ev = (n: number) => eventRow({ event_id: `$${n}`, room_id: "!r:main.test", type: "m.room.message", state_key: null, redacts: null, relates_to: null, membership: null, rejected: false, outlier: false });

/** A TCP proxy in front of Redis whose current connections can be frozen: open, but passing nothing. */
async function freezableProxy(target: URL): Promise<{ url: string; freeze(): void; connections(): number; close(): Promise<void> }> {
  const pairs: Array<{ client: Socket; upstream: Socket; frozen: boolean }> = [];
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    const pair = { client, upstream, frozen: false };
    pairs.push(pair);
    client.on("data", (b) => { if (!pair.frozen) upstream.write(b); });
    upstream.on("data", (b) => { if (!pair.frozen) client.write(b); });
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    freeze: () => { for (const p of pairs) p.frozen = true; },
    connections: () => pairs.length,
    close: () => new Promise<void>((resolve) => {
      for (const p of pairs) { p.client.destroy(); p.upstream.destroy(); }
      server.close(() => resolve());
    }),
  };
}

describe("replication over Redis", () => {
  let admin: Redis;
  const cleanup: Array<() => Promise<unknown>> = [];
  before(() => {
    admin = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  after(() => admin.quit());

  /** main writes events and typing; sender1 follows, catching up over HTTP from main. */
  async function deployment(serverName: string) {
    const events = new MemoryStreamWriter(EventsStream);
    const typing = new MemoryStreamWriter(TypingStream);
    const federation = new MemoryStreamWriter(FederationStream);
    const server: ReplicationServer = await startReplicationServer([events, typing, federation], "main");
    cleanup.push(() => server.close());
    const transport = (instanceName: string) => new RedisTransport({ url: REDIS_URL, channel: serverName, instanceName: `${serverName}:${instanceName}`, log });
    const main = createReplication({ instanceName: "main", transport: transport("main"), log, writers: [events, typing, federation] });
    const client = new ReplicationHttpClient({ instanceMap: { main: { host: "127.0.0.1", port: server.port } }, secret: SECRET, instanceName: "sender1" });
    cleanup.push(() => client.close());
    const sender = createReplication({ instanceName: "sender1", transport: transport("sender1"), log, catchUp: (s) => makeHttpUpdateFunction(client, s) });
    const start = async (r: Replication) => {
      await r.start();
      cleanup.push(() => r.stop());
      await r.commandHandler.whenConnected();
    };
    return { events, typing, federation, server, main, sender, start };
  }

  /** Everything published on `channel`, as the lines Synapse would see. */
  async function tap(channel: string): Promise<string[]> {
    const lines: string[] = [];
    const sub = new Redis(REDIS_URL);
    sub.on("message", (_c: string, m: string) => lines.push(m));
    await sub.subscribe(channel);
    cleanup.push(() => sub.quit());
    return lines;
  }

  it("exchanges RDATA and POSITION between two processes, batches on the wire, own echoes ignored", async () => {
    const name = uniqueServerName();
    const lines = await tap(name);
    const d = await deployment(name);
    await d.start(d.main);
    const mainEvents = collect(d.main.dataHandler, EventsStream);
    const senderEvents = collect(d.sender.dataHandler, EventsStream);
    const senderTyping = collect(d.sender.dataHandler, TypingStream);
    await d.start(d.sender);
    assert.equal(await d.sender.dataHandler.waitForPosition("events", "main", 0), true);

    d.events.append(ev(1), ev(2));
    d.typing.append(["!r:main.test", ["@alice:main.test"]]);
    d.main.streamer.notify();
    assert.equal(await d.sender.dataHandler.waitForPosition("events", "main", 1), true);
    assert.equal(await d.sender.dataHandler.waitForPosition("typing", "main", 1), true);
    assert.deepEqual(rowsOf(senderEvents), [[1, ev(1)], [1, ev(2)]]);
    assert.deepEqual(rowsOf(senderTyping), [[1, ["!r:main.test", ["@alice:main.test"]]]]);

    await waitFor("the lines on the channel", () => lines.some((l) => l.startsWith("RDATA typing")));
    assert.ok(lines.includes("REPLICATE "), "each process asks for positions on connecting");
    assert.ok(lines.includes("POSITION events main 0 0"), "main answers REPLICATE with its positions");
    assert.ok(lines.includes(`RDATA events main batch ${JSON.stringify(ev(1))}`));
    assert.ok(lines.includes(`RDATA events main 1 ${JSON.stringify(ev(2))}`));
    assert.ok(lines.includes('RDATA typing main 1 ["!r:main.test",["@alice:main.test"]]'));

    // main heard its own RDATA back from Redis and dropped it: its handler saw the rows once, locally.
    await waitFor("main's echoes", () => (d.main.commandHandler.stats().inbound.RDATA ?? 0) >= 3);
    await d.main.commandHandler.idle();
    assert.deepEqual(rowsOf(mainEvents), [[1, ev(1)], [1, ev(2)]]);

    // Each side sees the other alive, and main knows how far sender1 is (FEDERATION_ACK).
    d.federation.append(["e", { origin: "main.test", destination: "remote.test", edu_type: "m.test", content: {} }]);
    d.main.streamer.notify();
    assert.equal(await d.sender.dataHandler.waitForPosition("federation", "main", 1), true);
    d.sender.commandHandler.sendFederationAck(1);
    await waitFor("the acknowledgement", () => d.main.positions.snapshot().consumers.some((c) => c.stream === "federation" && c.consumer === "sender1" && c.token === 1));
    const ack = d.main.positions.snapshot().consumers.find((c) => c.consumer === "sender1")!;
    assert.deepEqual([ack.writer, ack.lagTokens], ["main", 0]);
    const senderView = d.sender.positions.snapshot();
    assert.deepEqual(senderView.writers.filter((w) => w.instance === "main").map((w) => [w.stream, w.token]), [["events", 1], ["federation", 1], ["typing", 1]]);
    assert.ok(senderView.instances.some((i) => i.name === "main" && i.alive));
  });

  it("counts malformed and unknown lines and carries on", async () => {
    const name = uniqueServerName();
    const d = await deployment(name);
    await d.start(d.main);
    await d.start(d.sender);
    assert.equal(await d.sender.dataHandler.waitForPosition("typing", "main", 0), true);
    const got = collect(d.sender.dataHandler, TypingStream);
    for (const line of ["RDATA typing main x []", "POSITION typing main", "NOT_A_COMMAND at all", "", "RDATA typing main 1 [\"bad row\"]"]) await admin.publish(name, line);
    d.typing.append(["!r:main.test", []]);
    d.main.streamer.notify();
    assert.equal(await d.sender.dataHandler.waitForPosition("typing", "main", 1), true);
    await waitFor("the counts", () => d.sender.commandHandler.stats().rowsRejected === 1);
    const stats = d.sender.commandHandler.stats();
    assert.deepEqual([stats.malformed, stats.unknownCommands, stats.rowsRejected], [2, 1, 1]);
    assert.equal(stats.lastMalformed?.line, "NOT_A_COMMAND at all");
    // The bad row took token 1 (and was dropped); main's real row 1 then came second and was stale.
    d.typing.append(["!r2:main.test", ["@bob:main.test"]]);
    d.main.streamer.notify();
    assert.equal(await d.sender.dataHandler.waitForPosition("typing", "main", 2), true);
    assert.deepEqual(rowsOf(got).at(-1), [2, ["!r2:main.test", ["@bob:main.test"]]]);
  });

  it("reconnects after its Redis connection is killed and resyncs what it missed through REPLICATE and POSITION", async () => {
    const name = uniqueServerName();
    const d = await deployment(name);
    await d.start(d.main);
    const got = collect(d.sender.dataHandler, EventsStream);
    await d.start(d.sender);
    assert.equal(await d.sender.dataHandler.waitForPosition("events", "main", 0), true);
    d.events.append(ev(1));
    d.main.streamer.notify();
    assert.equal(await d.sender.dataHandler.waitForPosition("events", "main", 1), true);
    assert.equal(d.sender.commandHandler.stats().connection, "redis-1");

    const clients = (await admin.client("LIST")) as string;
    const line = clients.split("\n").find((l) => l.includes(` name=switchyard:${name}:sender1:subscriber `));
    assert.ok(line, "the sender's subscriber connection is named");
    const id = /\bid=(\d+)/.exec(line)![1]!;
    await admin.client("KILL", "ID", id);
    // Rows written around the outage: some may be published while the sender is away.
    for (let n = 2; n <= 120; n++) d.events.append(ev(n));
    d.main.streamer.notify();

    await waitFor("the reconnection", () => d.sender.commandHandler.stats().connection === "redis-2");
    assert.equal(await d.sender.dataHandler.waitForPosition("events", "main", 120), true);
    assert.deepEqual(rowsOf(got).map(([t]) => t), Array.from({ length: 120 }, (_, i) => i + 1), "every row exactly once, in order");
    assert.equal(d.sender.commandHandler.stats().outbound.REPLICATE, 2, "REPLICATE again on the new connection");
  });

  it("observes another deployment's positions and lag, publishing nothing but REPLICATE", async () => {
    const name = uniqueServerName();
    const d = await deployment(name);
    await d.start(d.main);
    await d.start(d.sender);
    for (let n = 1; n <= 5; n++) d.events.append(ev(n));
    d.federation.append(["e", { origin: "main.test", destination: "remote.test", edu_type: "m.test", content: {} }]);
    d.main.streamer.notify();
    assert.equal(await d.sender.dataHandler.waitForPosition("federation", "main", 1), true);

    const observer = createObserver({ transport: new RedisTransport({ url: REDIS_URL, channel: name, instanceName: `${name}:observer`, log }), log });
    await observer.start();
    cleanup.push(() => observer.stop());
    // Its REPLICATE makes main announce every stream at once.
    await waitFor("main's positions", () => observer.positions.writerToken("events", "main") === 5);
    assert.equal(observer.positions.writerToken("federation", "main"), 1);
    d.sender.commandHandler.sendFederationAck(1);
    await waitFor("sender1's acknowledgement", () => observer.positions.snapshot().consumers.some((c) => c.consumer === "sender1"));
    const c = observer.positions.snapshot().consumers.find((x) => x.consumer === "sender1")!;
    assert.deepEqual([c.stream, c.writer, c.token, c.lagTokens], ["federation", "main", 1, 0]);
    assert.deepEqual(observer.commandHandler.stats().outbound, { REPLICATE: 1 });
    assert.deepEqual(observer.positions.snapshot().instances.filter((i) => i.self), [], "the observer is not a member");
  });

  it("keeps a quiet connection with Redis-level PINGs, and replaces one that goes silent", async () => {
    const proxy = await freezableProxy(new URL(REDIS_URL));
    cleanup.push(() => proxy.close());
    const transport = new RedisTransport({ url: proxy.url, channel: uniqueServerName(), instanceName: "keepalive", log, keepaliveIntervalMs: 20, deadAfterMs: 150 });
    // An observer that does not even send REPLICATE: nothing but the keepalive crosses the connection.
    const observer = createObserver({ transport, log, replicate: false });
    await observer.start();
    cleanup.push(() => observer.stop());
    await observer.commandHandler.whenConnected();
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(observer.commandHandler.stats().connection, "redis-1", "PING replies count as signs of life");

    proxy.freeze();
    await waitFor("a new connection after the silence", () => observer.commandHandler.stats().connection === "redis-2");
    assert.ok(proxy.connections() >= 4, "subscriber and publisher, then a new subscriber");
  });
});
