import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCommand } from "../../server/replication/commands";
import {
  ALL_STREAMS, CachesStream, DeviceListsStream, EventsStream, FederationStream, MemoryStreamWriter, PresenceStream, ReceiptsStream,
  ToDeviceStream, TypingStream, batchTokens, eventRow, getUpdatesSince, groupByToken, streamsByName, type StreamDefinition, type TypingStreamRow,
} from "../../server/replication/streams";

const rowOf = (line: string) => {
  const c = parseCommand(line);
  assert.equal(c.name, "RDATA");
  return c.name === "RDATA" ? c.row : null;
};

describe("replication streams", () => {
  it("accepts Synapse's rows for every stream", () => {
    const byName = streamsByName(ALL_STREAMS);
    assert.deepEqual([...byName.keys()].sort(), ["caches", "device_lists", "events", "federation", "presence", "receipts", "to_device", "typing"]);
    const good: Array<[StreamDefinition, string]> = [
      [EventsStream, 'RDATA events master batch ["ev",["$c58V","!qAkb:synapse.test","m.room.create","",null,null,null,false,false]]'],
      [EventsStream, 'RDATA events master 2 ["state",["!qAkb:synapse.test","m.room.name","","$n"]]'],
      [EventsStream, 'RDATA events master 2 ["state",["!qAkb:synapse.test","m.room.name","",null]]'],
      [EventsStream, 'RDATA events master 2 ["state-all",["!qAkb:synapse.test"]]'],
      [TypingStream, 'RDATA typing master 1 ["!qAkb:synapse.test",["@alice:synapse.test"]]'],
      [ReceiptsStream, 'RDATA receipts master 7 ["!r:s","m.read","@a:s","$e","thread1",{"ts":1}]'],
      [PresenceStream, 'RDATA presence master 5 ["@a:s","online",1,2,3,"at lunch",false]'],
      [ToDeviceStream, 'RDATA to_device master 9 ["@a:s"]'],
      [DeviceListsStream, 'RDATA device_lists master 12 ["@a:s",true,false]'],
      [CachesStream, 'RDATA caches master 20 ["get_user_by_id",["@a:s",1],1795887638292]'],
      [FederationStream, 'RDATA federation master 1 ["e",{"origin":"s","destination":"d","edu_type":"m.x","content":{"a":1}}]'],
      [FederationStream, 'RDATA federation master 2 ["k",{"key":["!r:s"],"edu":{"origin":"s","destination":"d","edu_type":"m.typing","content":{}}}]'],
      [FederationStream, 'RDATA federation master 3 ["pd",{"state":{"user_id":"@a:s","state":"online","last_active_ts":1,"last_federation_update_ts":2,"last_user_sync_ts":3,"status_msg":null,"currently_active":true},"dests":["d"]}]'],
    ];
    for (const [stream, line] of good) assert.equal(stream.row.safeParse(rowOf(line)).success, true, line);
  });

  it("refuses rows of the wrong shape", () => {
    const bad: Array<[StreamDefinition, unknown]> = [
      [EventsStream, ["ev", ["$e", "!r:s", "m.room.create"]]],
      [EventsStream, ["nope", ["!r:s"]]],
      [TypingStream, ["!r:s", "@a:s"]],
      [CachesStream, ["f", "not-a-list", 1]],
      [DeviceListsStream, ["@a:s"]],
      [FederationStream, ["e", { origin: "s" }]],
    ];
    for (const [stream, row] of bad) assert.equal(stream.row.safeParse(row).success, false, JSON.stringify(row));
  });

  it("builds ev rows in Synapse's field order", () => {
    const row = eventRow({ event_id: "$e", room_id: "!r:s", type: "m.room.member", state_key: "@a:s", redacts: null, relates_to: null, membership: "join", rejected: false, outlier: true });
    assert.deepEqual(row, ["ev", ["$e", "!r:s", "m.room.member", "@a:s", null, null, "join", false, true]]);
    assert.equal(EventsStream.row.safeParse(row).success, true);
  });

  it("marks all but the last row of a token as batch, and groups them back", () => {
    const updates: Array<[number, string]> = [[1, "a"], [1, "b"], [2, "c"], [3, "d"], [3, "e"]];
    assert.deepEqual(batchTokens(updates), [[null, "a"], [1, "b"], [2, "c"], [null, "d"], [3, "e"]]);
    assert.deepEqual(groupByToken(updates), [[1, ["a", "b"]], [2, ["c"]], [3, ["d", "e"]]]);
    assert.deepEqual(batchTokens([]), []);
  });

  it("reads an in-memory stream back in pages that never split a token", async () => {
    const writer = new MemoryStreamWriter(TypingStream);
    const row = (i: number): TypingStreamRow => [`!r${i}:s`, []];
    for (let i = 1; i <= 5; i++) writer.append(row(i));
    writer.append(row(6), row(7), row(8)); // token 6
    writer.append(row(9)); // token 7
    assert.equal(writer.currentToken(), 7);

    const first = await writer.updateFunction("main", 0, 7, 4);
    assert.deepEqual(first.updates.map(([t]) => t), [1, 2, 3, 4]);
    assert.deepEqual(first, { updates: first.updates, upto_token: 4, limited: true });
    const second = await writer.updateFunction("main", 4, 7, 2);
    assert.deepEqual(second.updates.map(([t]) => t), [5, 6, 6, 6], "the three rows of token 6 stay together");
    assert.equal(second.upto_token, 6);
    assert.equal(second.limited, true);
    assert.deepEqual(await writer.updateFunction("main", 6, 7, 100), { updates: [[7, row(9)]], upto_token: 7, limited: false });
    assert.deepEqual(await getUpdatesSince(writer.updateFunction, "main", 7, 7), { updates: [], upto_token: 7, limited: false });
  });

  it("serves everything it holds to a consumer that knew its previous life, and forgets acknowledged or old rows", async () => {
    let now = 1000;
    const writer = new MemoryStreamWriter(TypingStream, { now: () => now, retentionMs: 60_000 });
    writer.append(["!a:s", ["@a:s"]]);
    writer.append(["!b:s", []]);
    // A consumer at 57 from before our restart: POSITION typing w 0 2 → it asks from 57 up to 2.
    assert.deepEqual((await writer.updateFunction("w", 57, 2, 100)).updates.map(([t]) => t), [1, 2]);
    writer.discardUpTo(1);
    assert.deepEqual((await writer.updateFunction("w", 0, 2, 100)).updates.map(([t]) => t), [2]);
    now += 60_001;
    writer.append(["!c:s", []]);
    assert.deepEqual((await writer.updateFunction("w", 0, 3, 100)).updates.map(([t]) => t), [3]);
    assert.throws(() => writer.append(), /at least one row/);
  });

  it("keeps at most maxRows rows however many come and go, and reads from any position among them", async () => {
    const writer = new MemoryStreamWriter(TypingStream, { maxRows: 10 });
    for (let i = 1; i <= 95; i++) writer.append([`!r${i}:s`, []]);
    writer.append(["!a:s", []], ["!b:s", []]); // token 96: two rows
    const all = await writer.updateFunction("w", 0, 96, 100);
    assert.deepEqual(all.updates.map(([t]) => t), [88, 89, 90, 91, 92, 93, 94, 95, 96, 96]);
    assert.deepEqual((await writer.updateFunction("w", 93, 96, 100)).updates.map(([t]) => t), [94, 95, 96, 96]);
    assert.deepEqual((await writer.updateFunction("w", 93, 94, 100)).updates.map(([t]) => t), [94]);
    assert.deepEqual((await writer.updateFunction("w", 96, 96, 100)).updates, []);
    writer.discardUpTo(95);
    assert.deepEqual((await writer.updateFunction("w", 0, 96, 100)).updates.map(([t]) => t), [96, 96]);
  });
});
