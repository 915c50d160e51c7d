import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type { Command } from "../../server/replication/commands";
import { createReplication, type Replication } from "../../server/replication";
import { LocalBus, type LocalBusTransport } from "../../server/replication/local-bus";
import {
  EventsStream, MemoryStreamWriter, TypingStream, eventRow, type StreamUpdateResult, type TypingStreamRow, type UpdateFunction,
} from "../../server/replication/streams";
import { collect, log, rowsOf, waitFor } from "./helpers";

const ev = (id: string) => eventRow({ event_id: id, room_id: "!room:main.test", type: "m.room.message", state_key: null, redacts: null, relates_to: null, membership: null, rejected: false, outlier: false });

const started: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  for (const r of started.splice(0).reverse()) await r.stop();
});

async function start(r: Replication): Promise<Replication> {
  await r.start();
  started.push(r);
  return r;
}

/** A bus member that only publishes hand-written commands. */
async function rawMember(bus: LocalBus): Promise<LocalBusTransport> {
  const transport = bus.transport();
  await transport.start({ onConnected: () => undefined, onDisconnected: () => undefined, onCommand: () => undefined, onMalformed: () => undefined });
  started.push(transport);
  return transport;
}

describe("replication over the in-process bus", () => {
  it("carries rows from the writer to a consumer; the writer's own handlers get its rows once, not its echoes", async () => {
    const bus = new LocalBus();
    const typing = new MemoryStreamWriter(TypingStream);
    const events = new MemoryStreamWriter(EventsStream);
    const main = await start(createReplication({ instanceName: "main", transport: bus.transport(), log, writers: [typing, events] }));
    const mainTyping = collect(main.dataHandler, TypingStream);
    const sender = await start(createReplication({ instanceName: "sender1", transport: bus.transport(), log }));
    const senderTyping = collect(sender.dataHandler, TypingStream);
    const senderEvents = collect(sender.dataHandler, EventsStream);
    // The sender's REPLICATE makes main announce its positions; then the streams are live.
    assert.equal(await sender.dataHandler.waitForPosition("typing", "main", 0), true);
    assert.equal(await sender.dataHandler.waitForPosition("events", "main", 0), true);

    const row: TypingStreamRow = ["!room:main.test", ["@alice:main.test"]];
    typing.append(row);
    events.append(ev("$a"), ev("$b"), ev("$c")); // three rows, one token: two go out as "batch"
    main.streamer.notify();
    assert.equal(await sender.dataHandler.waitForPosition("events", "main", 1), true);
    assert.equal(await sender.dataHandler.waitForPosition("typing", "main", 1), true);

    assert.deepEqual(rowsOf(senderTyping), [[1, row]]);
    const withRows = senderEvents.filter((b) => b.rows.length > 0);
    assert.equal(withRows.length, 1, "the batch is applied as one, when its numeric token arrives");
    assert.deepEqual(withRows[0]!.rows.map((r) => r[1][0]), ["$a", "$b", "$c"]);
    assert.equal(withRows[0]!.token, 1);

    await waitFor("main to hear its own echoes", () => (main.commandHandler.stats().inbound.RDATA ?? 0) >= 4);
    await main.commandHandler.idle();
    assert.deepEqual(rowsOf(mainTyping), [[1, row]], "delivered locally once; the echo was dropped");
    assert.equal(main.dataHandler.position("typing", "main"), 1);
    assert.deepEqual(main.commandHandler.stats().outbound.RDATA, 4);
    assert.equal(sender.commandHandler.stats().rdataDropped, 0);
  });

  it("applies Synapse's rules for unpositioned streams, stale tokens, gaps and resets", async () => {
    const bus = new LocalBus();
    const fetches: Array<[string, number, number]> = [];
    let serve: (from: number, upto: number) => StreamUpdateResult<unknown> = (_from, upto) => ({ updates: [], upto_token: upto, limited: false });
    const catchUp = (stream: string): UpdateFunction<unknown> => async (instance, from, upto) => {
      fetches.push([`${stream}/${instance}`, from, upto]);
      return serve(from, upto);
    };
    const sender = await start(createReplication({ instanceName: "sender1", transport: bus.transport(), log, catchUp }));
    sender.dataHandler.register(TypingStream, () => {
      throw new Error("a broken consumer");
    });
    const typing = collect(sender.dataHandler, TypingStream);
    const writer = await rawMember(bus);
    const send = async (...commands: Command[]) => {
      for (const c of commands) writer.send(c);
      await new Promise((r) => setImmediate(r)); // the bus delivers in microtasks
      await sender.commandHandler.idle();
    };
    const rdata = (token: number | null, room: string): Command => ({ name: "RDATA", streamName: "typing", instanceName: "w", token, row: [room, []] });
    const position = (stream: string, prev: number, next: number): Command => ({ name: "POSITION", streamName: stream, instanceName: "w", prevToken: prev, newToken: next });

    await send(rdata(1, "!early:s"));
    assert.equal(typing.length, 0, "no POSITION yet on this connection: dropped");
    assert.equal(sender.commandHandler.stats().rdataDropped, 1);

    await send(position("typing", 0, 0));
    assert.equal(sender.dataHandler.position("typing", "w"), 0, "an unseeded consumer starts at the writer's position");
    assert.deepEqual(fetches, []);

    await send(rdata(null, "!a:s"), rdata(null, "!b:s"), rdata(1, "!c:s"));
    assert.deepEqual(rowsOf(typing), [[1, ["!a:s", []]], [1, ["!b:s", []]], [1, ["!c:s", []]]]);
    assert.ok(sender.dataHandler.stats().handlerErrors >= 1, "a failing handler is counted and does not stop the others");

    await send(rdata(1, "!stale:s"));
    assert.equal(rowsOf(typing).length, 3, "token not after ours: dropped");

    await send(position("typing", 1, 3));
    assert.equal(sender.dataHandler.position("typing", "w"), 3, "prev ≤ current ≤ new: nothing missed");
    assert.deepEqual(fetches, []);

    serve = (_from, upto) => ({ updates: [[4, ["!gap1:s", []]], [5, ["!gap2:s", []]]], upto_token: upto, limited: false });
    await send(position("typing", 5, 6));
    assert.deepEqual(fetches, [["typing/w", 3, 6]], "prev > current: rows 4..5 were missed and fetched");
    assert.deepEqual(rowsOf(typing).slice(3), [[4, ["!gap1:s", []]], [5, ["!gap2:s", []]]]);
    assert.equal(sender.dataHandler.position("typing", "w"), 6);

    serve = (_from, upto) => ({ updates: [], upto_token: upto, limited: false });
    await send(position("typing", 0, 0));
    assert.deepEqual(fetches.at(-1), ["typing/w", 6, 0], "the writer restarted its in-memory stream");
    assert.equal(sender.dataHandler.position("typing", "w"), 0, "a resettable stream goes back");
    await send(rdata(1, "!after-reset:s"));
    assert.deepEqual(rowsOf(typing).at(-1), [1, ["!after-reset:s", []]]);

    await send(position("events", 0, 10));
    const fetchCount = fetches.length;
    await send(position("events", 4, 8));
    assert.equal(sender.dataHandler.position("events", "w"), 10, "events never go back: an older POSITION is ignored");
    assert.equal(fetches.length, fetchCount);

    await send({ name: "RDATA", streamName: "typing", instanceName: "w", token: 2, row: ["not", "a", "typing", "row"] });
    assert.equal(sender.commandHandler.stats().rowsRejected, 1);

    await send({ name: "RDATA", streamName: "typing", instanceName: "sender1", token: 99, row: ["!echo:s", []] });
    assert.equal(sender.dataHandler.position("typing", "sender1"), undefined, "our own name: an echo, ignored");
  });

  it("fetches a gap again after a failed catch-up, and resumes a seeded position", async () => {
    const bus = new LocalBus();
    const events = new MemoryStreamWriter(EventsStream);
    for (const id of ["$1", "$2", "$3"]) events.append(ev(id));
    let failures = 1;
    const catchUp = (): UpdateFunction<unknown> => async (instance, from, upto, limit) => {
      if (failures-- > 0) throw new Error("writer unreachable");
      return events.updateFunction(instance, from, upto, limit);
    };
    const main = await start(createReplication({ instanceName: "main", transport: bus.transport(), log, writers: [events] }));
    const sender = createReplication({ instanceName: "sender1", transport: bus.transport(), log, catchUp });
    sender.dataHandler.seedPosition("events", "main", 1); // e.g. stored before a restart
    const got = collect(sender.dataHandler, EventsStream);
    await start(sender);
    assert.equal(await sender.dataHandler.waitForPosition("events", "main", 3, 4000), true);
    assert.equal(sender.commandHandler.stats().catchUpFailures, 1);
    assert.deepEqual(rowsOf(got).map(([t, r]) => [t, r[1][0]]), [[2, "$2"], [3, "$3"]]);
    assert.ok(main.commandHandler.connected());
  });

  it("sees peers alive through their PINGs, and gone once they fall silent", async () => {
    const bus = new LocalBus();
    const positions = { peerTimeoutMs: 150 };
    const main = await start(createReplication({ instanceName: "main", transport: bus.transport(), log, pingIntervalMs: 20, positions }));
    const sender = createReplication({ instanceName: "sender1", transport: bus.transport(), log, pingIntervalMs: 20, positions });
    await sender.start();
    const alive = (r: Replication, name: string) => r.positions.snapshot().instances.find((i) => i.name === name)?.alive;
    await waitFor("main to hear sender1's PING", () => alive(main, "sender1") === true);
    assert.equal(alive(main, "main"), true);
    await waitFor("sender1 to hear main's PING", () => alive(sender, "main") === true);
    await sender.stop();
    await waitFor("sender1 to be considered gone", () => alive(main, "sender1") === false);
    assert.ok((main.commandHandler.stats().inbound.PING ?? 0) >= 1);
  });

  it("gives the writer's own consumers what they missed before a restart, then the new rows", async () => {
    const bus = new LocalBus();
    const events = new MemoryStreamWriter(EventsStream);
    for (let n = 1; n <= 5; n++) events.append(ev(`$${n}`));
    const main = createReplication({ instanceName: "main", transport: bus.transport(), log, writers: [events] });
    main.dataHandler.seedPosition("events", "main", 2); // e.g. the embedded federation sender's stored position
    const got = collect(main.dataHandler, EventsStream);
    await start(main);
    assert.equal(await main.dataHandler.waitForPosition("events", "main", 5), true);
    events.append(ev("$6"));
    main.streamer.notify();
    assert.equal(await main.dataHandler.waitForPosition("events", "main", 6), true);
    assert.deepEqual(rowsOf(got).map(([t, r]) => [t, r[1][0]]), [[3, "$3"], [4, "$4"], [5, "$5"], [6, "$6"]]);
  });
});
