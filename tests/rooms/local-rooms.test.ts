/**
 * Local rooms through the console API on one real HomeServer: every room version family creates a room whose
 * events pass the auth rules, local members join, invite and leave, state changes land in the current state,
 * and refusals come back as FORBIDDEN / NOT_FOUND with the rule that refused them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createCaller } from "../../server/api/root";
import { startTestHomeServer, type TestHomeServer } from "../support/homeserver";

let server: TestHomeServer;
let api: ReturnType<typeof createCaller>;

describe("local rooms", () => {
  before(async () => {
    server = await startTestHomeServer({ server_name: "local.test" });
    api = createCaller({ hs: server.hs, authenticated: true });
    await api.users.create({ localpart: "alice", displayname: "Alice" });
    await api.users.create({ localpart: "bob" });
  });
  after(() => server?.stop());

  for (const version of ["1", "3", "6", "10", "11", "12"]) {
    it(`creates a room of version ${version} that local users use`, async () => {
      const { room_id, room_version } = await api.rooms.create({ creator: "@alice:local.test", room_version: version, name: `v${version}`, preset: "public_chat" });
      assert.equal(room_version, version);
      if (version === "12") assert.match(room_id, /^![A-Za-z0-9_-]{43}$/, "a v12 room ID is the create event's hash");
      else assert.match(room_id, /^!.+:local\.test$/);
      await api.rooms.join({ user_id: "@bob:local.test", room: room_id });
      await api.rooms.send({ user_id: "@bob:local.test", room_id, type: "m.room.message", content: { msgtype: "m.text", body: "hello" } });
      await api.rooms.send({ user_id: "@alice:local.test", room_id, type: "m.room.topic", state_key: "", content: { topic: "t" } });

      const room = await api.rooms.get({ room_id });
      assert.deepEqual(room.members, [{ user_id: "@alice:local.test", membership: "join" }, { user_id: "@bob:local.test", membership: "join" }]);
      assert.deepEqual(room.servers, ["local.test"]);
      assert.equal(room.forward_extremities.length, 1);
      const byType = new Map(room.state.map((s) => [s.type, s]));
      assert.equal(byType.get("m.room.name")?.content.name, `v${version}`);
      assert.equal(byType.get("m.room.topic")?.content.topic, "t");
      assert.equal(byType.get("m.room.join_rules")?.content.join_rule, "public");
      assert.equal(byType.get("m.room.create")?.content.room_version, version);

      const { events } = await api.rooms.messages({ room_id, limit: 3 });
      assert.deepEqual(events.map((e) => e.type), ["m.room.topic", "m.room.message", "m.room.member"]);
      assert.ok(events[0]!.depth > events[1]!.depth);
      // Bob has power 0 and state_default is 50: changing the name is refused by the auth rules.
      await assert.rejects(
        api.rooms.send({ user_id: "@bob:local.test", room_id, type: "m.room.name", state_key: "", content: { name: "mine" } }),
        (e: Error & { code?: string }) => e.code === "FORBIDDEN" && /power level/.test(e.message),
      );
    });
  }

  it("keeps invite-only rooms closed until an invite, and lets members leave", async () => {
    const { room_id } = await api.rooms.create({ creator: "@alice:local.test" });
    await assert.rejects(api.rooms.join({ user_id: "@bob:local.test", room: room_id }), (e: Error & { code?: string }) => e.code === "FORBIDDEN");
    await api.rooms.invite({ sender: "@alice:local.test", room_id, user_id: "@bob:local.test" });
    assert.deepEqual((await api.rooms.get({ room_id })).members.map((m) => m.membership), ["join", "invite"]);
    await api.rooms.join({ user_id: "@bob:local.test", room: room_id });
    await api.rooms.leave({ user_id: "@bob:local.test", room_id });
    assert.deepEqual((await api.rooms.get({ room_id })).members.map((m) => m.membership), ["join", "leave"]);
    await assert.rejects(
      api.rooms.send({ user_id: "@bob:local.test", room_id, type: "m.room.message", content: { body: "gone" } }),
      (e: Error & { code?: string }) => e.code === "FORBIDDEN" && /not joined/.test(e.message),
    );
  });

  it("finds rooms by local alias and lists them", async () => {
    const { room_id } = await api.rooms.create({ creator: "@alice:local.test", room_alias_name: "lobby", preset: "public_chat" });
    const joined = await api.rooms.join({ user_id: "@bob:local.test", room: "#lobby:local.test" });
    assert.equal(joined.room_id, room_id);
    await assert.rejects(api.rooms.create({ creator: "@alice:local.test", room_alias_name: "lobby" }), /M_ROOM_IN_USE/);
    const listed = (await api.rooms.list()).find((r) => r.room_id === room_id);
    assert.deepEqual(listed && { joined: listed.joined, members: listed.joined_members, public: listed.is_public }, { joined: true, members: 2, public: true });
  });

  it("refuses unknown users, rooms and versions with clear errors", async () => {
    await assert.rejects(api.rooms.create({ creator: "@nobody:local.test" }), (e: Error & { code?: string }) => e.code === "NOT_FOUND");
    await assert.rejects(api.rooms.create({ creator: "@alice:local.test", room_version: "13" }), /unknown room version/);
    await assert.rejects(api.rooms.get({ room_id: "!missing:local.test" }), (e: Error & { code?: string }) => e.code === "NOT_FOUND");
    await assert.rejects(api.users.create({ localpart: "alice" }), (e: Error & { code?: string }) => e.code === "CONFLICT");
    await assert.rejects(api.users.create({ localpart: "Bad Name" }), /lower-case/);
  });
});
