import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  COMMAND_NAMES, CommandParseError, CommandSerializeError, encodeJson, parseCommand, pingData, pingInstance, redisChannel,
  serializeCommand, type Command,
} from "../../server/replication/commands";

// Lines as a Synapse (main process "master") publishes them on Redis; every one must survive parse → serialize
// byte for byte.
const SYNAPSE_LINES = [
  'RDATA events master batch ["ev",["$c58VvJ2xHfLrAzXgQZ0dKq7L9s1mJx3wPnB5tYkUeRo","!qAkbCcEeXwYzHhJjPp:synapse.test","m.room.create","",null,null,null,false,false]]',
  'RDATA events master 2 ["state",["!qAkbCcEeXwYzHhJjPp:synapse.test","m.room.create","","$c58VvJ2xHfLrAzXgQZ0dKq7L9s1mJx3wPnB5tYkUeRo"]]',
  'RDATA events master 3 ["ev",["$m3mb3r","!qAkbCcEeXwYzHhJjPp:synapse.test","m.room.member","@alice:synapse.test",null,null,"join",false,false]]',
  'RDATA events master 4 ["state-all",["!qAkbCcEeXwYzHhJjPp:synapse.test"]]',
  'RDATA typing master 1 ["!qAkbCcEeXwYzHhJjPp:synapse.test",["@alice:synapse.test"]]',
  'RDATA typing master 2 ["!qAkbCcEeXwYzHhJjPp:synapse.test",[]]',
  'RDATA receipts master 7 ["!qAkbCcEeXwYzHhJjPp:synapse.test","m.read","@alice:synapse.test","$m3mb3r",null,{"ts":1795887638292}]',
  'RDATA presence master 5 ["@alice:synapse.test","online",1795887638292,1795887638000,1795887638292,null,true]',
  'RDATA to_device master 9 ["remote.test"]',
  'RDATA device_lists master 12 ["@alice:synapse.test",false,true]',
  'RDATA caches master 20 ["get_user_by_id",["@alice:synapse.test"],1795887638292]',
  'RDATA caches master 21 ["cs_cache_fake",null,1795887638292]',
  'RDATA federation master 3 ["k",{"key":["!qAkbCcEeXwYzHhJjPp:synapse.test"],"edu":{"origin":"synapse.test","destination":"remote.test","content":{"room_id":"!qAkbCcEeXwYzHhJjPp:synapse.test","user_id":"@alice:synapse.test","typing":true},"edu_type":"m.typing"}}]',
  'RDATA caches master 22 ["get_profile",["@b\\u00e9b\\u00e9:synapse.test","\\ud83d\\ude00","tab\\tand\\"quote\\\\","\\u007f"],1795887638292]',
  "POSITION caches master 0 0",
  "POSITION events master 1795 1802",
  "USER_SYNC TmKTL @alice:synapse.test start 1795887638292",
  "USER_SYNC TmKTL @alice:synapse.test None end 1795887638292",
  "USER_SYNC TmKTL @alice:synapse.test ABCDEFGHIJ start 1795887638292",
  "REPLICATE ",
  "SERVER synapse.test",
  "ERROR Unknown command",
  "PING 1795887638292",
  "NAME federation_sender1",
  "CLEAR_USER_SYNC TmKTL",
  "FEDERATION_ACK federation_sender1 17",
  'USER_IP @alice:synapse.test ["syt_YWxpY2U_abcdef","127.0.0.1","Mozilla/5.0 (X11; Linux x86_64)",null,1795887638292]',
  'USER_IP @alice:synapse.test ["syt_YWxpY2U_abcdef","::1","curl/8.0","ABCDEFGHIJ",1795887638292]',
  "REMOTE_SERVER_UP remote.test",
  'LOCK_RELEASED ["master","_federation_catch_up","remote.test"]',
  "NEW_ACTIVE_TASK mY7aBcDeFgHiJkLm",
  "CANCEL_TASK mY7aBcDeFgHiJkLm",
];

describe("replication commands", () => {
  it("round-trips every captured Synapse line byte for byte", () => {
    for (const line of SYNAPSE_LINES) assert.equal(serializeCommand(parseCommand(line)), line, line);
  });

  it("covers every command name", () => {
    const seen = new Set(SYNAPSE_LINES.map((l) => parseCommand(l).name));
    assert.deepEqual([...seen].sort(), [...COMMAND_NAMES].sort());
  });

  it("reads the fields Synapse writes", () => {
    assert.deepEqual(parseCommand(SYNAPSE_LINES[0]!), {
      name: "RDATA", streamName: "events", instanceName: "master", token: null,
      row: ["ev", ["$c58VvJ2xHfLrAzXgQZ0dKq7L9s1mJx3wPnB5tYkUeRo", "!qAkbCcEeXwYzHhJjPp:synapse.test", "m.room.create", "", null, null, null, false, false]],
    });
    assert.deepEqual(parseCommand("POSITION events master 1795 1802"), { name: "POSITION", streamName: "events", instanceName: "master", prevToken: 1795, newToken: 1802 });
    assert.deepEqual(parseCommand("USER_SYNC TmKTL @alice:synapse.test start 1795887638292"), {
      name: "USER_SYNC", instanceId: "TmKTL", userId: "@alice:synapse.test", isSyncing: true, lastSyncMs: 1795887638292,
    });
    assert.deepEqual(parseCommand("USER_SYNC TmKTL @alice:synapse.test None end 5"), {
      name: "USER_SYNC", instanceId: "TmKTL", userId: "@alice:synapse.test", deviceId: null, isSyncing: false, lastSyncMs: 5,
    });
    assert.deepEqual(parseCommand(SYNAPSE_LINES[26]!), {
      name: "USER_IP", userId: "@alice:synapse.test", accessToken: "syt_YWxpY2U_abcdef", ip: "127.0.0.1",
      userAgent: "Mozilla/5.0 (X11; Linux x86_64)", deviceId: null, lastSeen: 1795887638292,
    });
    assert.deepEqual(parseCommand('LOCK_RELEASED ["master","l","k"]'), { name: "LOCK_RELEASED", instanceName: "master", lockName: "l", lockKey: "k" });
    // Synapse reads an argument-less REPLICATE either way, and always writes the trailing space.
    assert.deepEqual(parseCommand("REPLICATE"), { name: "REPLICATE" });
    assert.equal(serializeCommand({ name: "REPLICATE" }), "REPLICATE ");
    // RDATA rows may contain spaces: only the first three spaces separate arguments.
    assert.deepEqual(parseCommand('RDATA caches w 1 ["a b", null, 3]'), { name: "RDATA", streamName: "caches", instanceName: "w", token: 1, row: ["a b", null, 3] });
  });

  it("writes JSON as Synapse's json_encoder does: compact, ASCII only", () => {
    const command: Command = { name: "RDATA", streamName: "caches", instanceName: "master", token: 22, row: ["get_profile", ["@bébé:synapse.test", "😀", "tab\tand\"quote\\", "\u007f"], 1795887638292] };
    assert.equal(serializeCommand(command), SYNAPSE_LINES[13]);
    assert.equal(encodeJson({ a: [1, "é"], b: null }), '{"a":[1,"\\u00e9"],"b":null}');
    assert.equal(encodeJson("\u2028\u0001"), '"\\u2028\\u0001"');
  });

  it("refuses malformed lines with a clear reason, marking unknown commands", () => {
    const malformed = [
      "RDATA events master",
      "RDATA events master x []",
      "RDATA events master 1 [not json",
      "RDATA events master 99999999999999999999 []",
      "POSITION events master 1",
      "POSITION events master a 2",
      "USER_SYNC a @b:c maybe 1",
      "USER_SYNC a @b:c start",
      "USER_SYNC a @b:c start soon",
      "FEDERATION_ACK sender1 1 2",
      "FEDERATION_ACK sender1",
      'USER_IP @a:b ["only one"]',
      "USER_IP @a:b",
      "LOCK_RELEASED [1,2,3]",
      "LOCK_RELEASED nope",
    ];
    for (const line of malformed) {
      assert.throws(() => parseCommand(line), (e: unknown) => e instanceof CommandParseError && !e.unknownCommand && e.line === line, line);
    }
    for (const line of ["FOO bar", "rdata events master 1 []", ""]) {
      assert.throws(() => parseCommand(line), (e: unknown) => e instanceof CommandParseError && e.unknownCommand, line);
    }
  });

  it("refuses to write a command that would break the line", () => {
    assert.throws(() => serializeCommand({ name: "ERROR", data: "two\nlines" }), CommandSerializeError);
    // JSON escapes line breaks, so rows are always safe.
    assert.equal(serializeCommand({ name: "RDATA", streamName: "s", instanceName: "i", token: 1, row: ["a\nb"] }), 'RDATA s i 1 ["a\\nb"]');
  });

  it("publishes USER_IP on its own channel, everything else on the server name", () => {
    assert.equal(redisChannel(parseCommand(SYNAPSE_LINES[26]!), "synapse.test"), "synapse.test/USER_IP");
    assert.equal(redisChannel({ name: "REPLICATE" }, "synapse.test"), "synapse.test");
  });

  it("names the instance in our PINGs, and reads Synapse's bare timestamp as anonymous", () => {
    const data = pingData(1795887638292, "sender1");
    assert.equal(serializeCommand({ name: "PING", data }), "PING 1795887638292 sender1");
    assert.equal(pingInstance(data), "sender1");
    assert.equal(pingInstance("1795887638292"), undefined);
  });
});
