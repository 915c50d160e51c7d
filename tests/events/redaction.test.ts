import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { JsonObject } from "../../server/crypto";
import { getRoomVersion, InvalidEventError, redactEvent, ROOM_VERSION_IDS } from "../../server/events";

const from = (first: number) => ROOM_VERSION_IDS.filter((id) => Number(id) >= first);
const before = (first: number) => ROOM_VERSION_IDS.filter((id) => Number(id) < first);

function redactedContent(type: string, content: JsonObject, version: string): JsonObject {
  return redactEvent({ type, content, state_key: "" }, getRoomVersion(version)).content;
}

const envelope: JsonObject = {
  auth_events: ["$a"],
  depth: 4,
  event_id: "$e:x",
  hashes: { sha256: "h" },
  origin: "x",
  origin_server_ts: 5,
  prev_events: ["$p"],
  prev_state: [],
  membership: "join",
  room_id: "!r:x",
  sender: "@u:x",
  signatures: { x: { "ed25519:1": "s" } },
  state_key: "",
  type: "m.room.topic",
  content: { topic: "secret" },
  redacts: "$target",
  unsigned: { age: 1, redacted_because: {} },
  age_ts: 3,
  extra: "dropped",
};
const ALWAYS_KEPT = ["auth_events", "content", "depth", "event_id", "hashes", "origin_server_ts", "prev_events", "room_id", "sender", "signatures", "state_key", "type"];

describe("redaction: top-level keys", () => {
  test("v1–10 keep origin, membership and prev_state, and nothing outside the list", () => {
    for (const id of before(11)) {
      const redacted = redactEvent(envelope, getRoomVersion(id));
      assert.deepEqual(Object.keys(redacted).sort(), [...ALWAYS_KEPT, "membership", "origin", "prev_state"].sort(), id);
      assert.deepEqual(redacted.content, {});
    }
  });

  test("v11+ drop origin, membership and prev_state too", () => {
    for (const id of from(11)) {
      assert.deepEqual(Object.keys(redactEvent(envelope, getRoomVersion(id))).sort(), [...ALWAYS_KEPT].sort(), id);
    }
  });

  test("unsigned and a top-level redacts are never kept", () => {
    const redacted = redactEvent({ ...envelope, type: "m.room.redaction" }, getRoomVersion("1"));
    assert.equal(redacted.unsigned, undefined);
    assert.equal(redacted.redacts, undefined);
  });

  test("keys the event does not have are not invented", () => {
    assert.deepEqual(redactEvent({ type: "m.room.message", content: { body: "hi" } }, getRoomVersion("10")), {
      type: "m.room.message",
      content: {},
    });
  });
});

describe("redaction: content by event type", () => {
  test("other event types lose all content", () => {
    for (const id of ROOM_VERSION_IDS) assert.deepEqual(redactedContent("m.room.message", { body: "x", "m.relates_to": { event_id: "$x" } }, id), {});
  });

  test("m.room.member keeps membership only, before v9", () => {
    const content = { membership: "join", displayname: "A", avatar_url: "mxc://x/y", join_authorised_via_users_server: "@a:x" };
    for (const id of before(9)) assert.deepEqual(redactedContent("m.room.member", content, id), { membership: "join" }, id);
  });

  test("m.room.member also keeps join_authorised_via_users_server from v9", () => {
    const content = { membership: "join", displayname: "A", join_authorised_via_users_server: "@a:x" };
    for (const id of from(9)) {
      assert.deepEqual(redactedContent("m.room.member", content, id), { membership: "join", join_authorised_via_users_server: "@a:x" }, id);
    }
  });

  test("m.room.member keeps third_party_invite.signed from v11 only", () => {
    const signed = { mxid: "@b:y", token: "t", signatures: { y: { "ed25519:0": "s" } } };
    const content = { membership: "invite", third_party_invite: { display_name: "b…", signed } };
    for (const id of before(11)) assert.deepEqual(redactedContent("m.room.member", content, id), { membership: "invite" }, id);
    for (const id of from(11)) {
      assert.deepEqual(redactedContent("m.room.member", content, id), { membership: "invite", third_party_invite: { signed } }, id);
    }
  });

  test("v11: a third_party_invite without signed stays as {}, one that is not an object goes", () => {
    const v11 = "11";
    assert.deepEqual(redactedContent("m.room.member", { membership: "invite", third_party_invite: { display_name: "b" } }, v11), {
      membership: "invite",
      third_party_invite: {},
    });
    assert.deepEqual(redactedContent("m.room.member", { membership: "invite", third_party_invite: "x" }, v11), { membership: "invite" });
  });

  test("m.room.create keeps only creator before v11", () => {
    const content = { creator: "@u:x", room_version: "10", "m.federate": false, predecessor: { room_id: "!o:x" } };
    for (const id of before(11)) assert.deepEqual(redactedContent("m.room.create", content, id), { creator: "@u:x" }, id);
  });

  test("m.room.create keeps all its content from v11 (v12 additional_creators included)", () => {
    const content = { room_version: "12", "m.federate": false, additional_creators: ["@b:y"], type: "m.space", extra: { deep: [1] } };
    for (const id of from(11)) assert.deepEqual(redactedContent("m.room.create", content, id), content, id);
  });

  test("m.room.join_rules keeps join_rule, and allow from v8", () => {
    const content = { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: "!s:x" }], other: 1 };
    for (const id of before(8)) assert.deepEqual(redactedContent("m.room.join_rules", content, id), { join_rule: "restricted" }, id);
    for (const id of from(8)) {
      assert.deepEqual(redactedContent("m.room.join_rules", content, id), { join_rule: "restricted", allow: content.allow }, id);
    }
  });

  test("m.room.power_levels keeps the auth keys, and invite from v11", () => {
    const content = {
      ban: 50, events: { "m.room.name": 50 }, events_default: 0, invite: 0, kick: 50, redact: 50, state_default: 50,
      users: { "@u:x": 100 }, users_default: 0, notifications: { room: 50 }, historical: 100,
    };
    const { invite: _i, notifications: _n, historical: _h, ...authKeys } = content;
    for (const id of before(11)) assert.deepEqual(redactedContent("m.room.power_levels", content, id), authKeys, id);
    for (const id of from(11)) assert.deepEqual(redactedContent("m.room.power_levels", content, id), { ...authKeys, invite: 0 }, id);
  });

  test("m.room.aliases keeps aliases in v1–5 only", () => {
    const content = { aliases: ["#a:x"], other: 1 };
    for (const id of before(6)) assert.deepEqual(redactedContent("m.room.aliases", content, id), { aliases: ["#a:x"] }, id);
    for (const id of from(6)) assert.deepEqual(redactedContent("m.room.aliases", content, id), {}, id);
  });

  test("m.room.history_visibility keeps history_visibility", () => {
    for (const id of ROOM_VERSION_IDS) {
      assert.deepEqual(redactedContent("m.room.history_visibility", { history_visibility: "shared", x: 1 }, id), { history_visibility: "shared" });
    }
  });

  test("m.room.redaction keeps content.redacts from v11", () => {
    const content = { redacts: "$target", reason: "spam" };
    for (const id of before(11)) assert.deepEqual(redactedContent("m.room.redaction", content, id), {}, id);
    for (const id of from(11)) assert.deepEqual(redactedContent("m.room.redaction", content, id), { redacts: "$target" }, id);
  });
});

describe("redaction: behaviour", () => {
  test("is idempotent", () => {
    for (const id of ROOM_VERSION_IDS) {
      const once = redactEvent({ ...envelope, type: "m.room.member", content: { membership: "join", displayname: "d" } }, getRoomVersion(id));
      assert.deepEqual(redactEvent(once, getRoomVersion(id)), once, id);
    }
  });

  test("returns a deep copy and leaves the event alone", () => {
    const event: JsonObject = { type: "m.room.create", content: { creator: "@u:x", predecessor: { room_id: "!o:x" } }, signatures: { x: { "ed25519:1": "s" } } };
    const snapshot = structuredClone(event);
    const redacted = redactEvent(event, getRoomVersion("11"));
    (redacted.content.predecessor as JsonObject).room_id = "changed";
    redacted.signatures!.x!["ed25519:1"] = "changed";
    assert.deepEqual(event, snapshot);
  });

  test("refuses an event without a string type or an object content", () => {
    const v = getRoomVersion("10");
    assert.throws(() => redactEvent({ content: {} }, v), (e: unknown) => e instanceof InvalidEventError && /type/.test(e.message));
    assert.throws(() => redactEvent({ type: "m.room.message", content: [] }, v), /invalid event: content: .*expected record/);
    assert.throws(() => redactEvent({ type: "m.room.message" }, v), InvalidEventError);
  });
});
