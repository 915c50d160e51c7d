/**
 * The room parts of federation between two real instances, where A's federation sender is switched off (A owns
 * no destinations) so the test decides which of A's events reach B and when: a gap longer than
 * get_missing_events covers, soft failure, backfill, every membership handshake (invite v1 and v2, knock,
 * rejecting an invite) and the read endpoints with the spec's errors.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createCaller } from "../../server/api/root";
import { eventIdOf, finishEvent, getRoomVersion, signNewEvent, type Pdu } from "../../server/events";
import { FederationRequestError } from "../../server/federation/transport/errors";
import { startFederation, type TestHomeServer } from "../support/homeserver";

let a: TestHomeServer;
let b: TestHomeServer;
const api = (server: TestHomeServer) => createCaller({ hs: server.hs, authenticated: true });
const v10 = getRoomVersion("10");

/** Hands events of A's to B as A's sender would, and waits until B has processed them. */
async function deliver(pdus: Pdu[]): Promise<void> {
  await a.hs.transportClient.sendTransaction("b.test", `manual-${Date.now()}-${Math.random()}`, { origin: "a.test", origin_server_ts: Date.now(), pdus, edus: [] });
  await b.hs.rooms.stagingWorkers.idle();
}

async function pduOnA(eventId: string): Promise<Pdu> {
  return (await a.hs.stores.events.getEvent(eventId))!.pdu;
}

async function rejectsWith(promise: Promise<unknown>, status: number, errcode: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof FederationRequestError, String(e));
    assert.deepEqual([e.status, e.errcode], [status, errcode], e.message);
    return true;
  });
}

describe("room federation endpoints and gaps", () => {
  let roomId: string;

  before(async () => {
    [a, b] = (await startFederation([
      { server_name: "a.test", federation_sender_instances: ["elsewhere"] },
      { server_name: "b.test" },
    ])) as [TestHomeServer, TestHomeServer];
    await api(a).users.create({ localpart: "alice", displayname: "Alice" });
    await api(b).users.create({ localpart: "bob" });
    await api(b).users.create({ localpart: "dave" });
    roomId = (await api(a).rooms.create({ creator: "@alice:a.test", room_version: "10", preset: "public_chat", room_alias_name: "hall", name: "Hall" })).room_id;
    await api(b).rooms.join({ user_id: "@bob:b.test", room: "#hall:a.test" });
  });
  after(() => Promise.all([a?.stop(), b?.stop()]));

  it("bridges a gap longer than get_missing_events with the state at the missing event, then backfills it", async () => {
    const bodies = Array.from({ length: 15 }, (_, i) => `m${i + 1}`);
    for (const body of bodies) await api(a).rooms.send({ user_id: "@alice:a.test", room_id: roomId, type: "m.room.message", content: { body } });
    const topic = await api(a).rooms.send({ user_id: "@alice:a.test", room_id: roomId, type: "m.room.topic", state_key: "", content: { topic: "after the gap" } });
    await deliver([await pduOnA(topic.event_id)]);

    assert.equal((await b.hs.stores.events.getEvent(topic.event_id))?.outlier, false);
    assert.equal((await api(b).rooms.get({ room_id: roomId })).state.find((s) => s.type === "m.room.topic")?.content.topic, "after the gap");
    const timeline = (await b.hs.stores.events.getRoomMessages(roomId, 100)).map((e) => e.pdu.content.body).filter(Boolean).reverse();
    assert.deepEqual(timeline, bodies.slice(5), "get_missing_events brought the last 10 events");
    const m5 = (await a.hs.stores.events.getRoomMessages(roomId, 100)).find((e) => e.pdu.content.body === "m5")!;
    assert.equal((await b.hs.stores.events.getEvent(m5.eventId))?.outlier, true, "the event before them came with /state_ids, as an outlier");

    const { events } = await api(b).rooms.messages({ room_id: roomId, limit: 100 });
    const afterBackfill = events.filter((e) => e.type === "m.room.message").map((e) => e.content.body).reverse();
    assert.deepEqual(afterBackfill, bodies, "backfill filled in the rest");
  });

  it("soft-fails an event that passes where it was sent but not against the current state", async () => {
    await api(a).rooms.send({ user_id: "@alice:a.test", room_id: roomId, type: "m.room.member", state_key: "@bob:b.test", content: { membership: "ban" } });
    // B has not heard of the ban: bob may still speak there, and B's sender delivers it to A.
    const { event_id } = await api(b).rooms.send({ user_id: "@bob:b.test", room_id: roomId, type: "m.room.message", content: { body: "am I banned?" } });
    const stored = await waitForEvent(a, event_id);
    assert.equal(stored.softFailed, true);
    assert.equal(stored.rejectedReason, null, "it passed the auth rules at its position");
    assert.ok(!(await a.hs.stores.events.getForwardExtremities(roomId)).includes(event_id));
    assert.ok(!(await api(a).rooms.messages({ room_id: roomId, limit: 100 })).events.some((e) => e.event_id === event_id));
  });

  it("answers reads from servers in the room only, with the spec's errors", async () => {
    const transport = b.hs.transportClient;
    const someEvent = (await a.hs.stores.events.getForwardExtremities(roomId))[0]!;
    // B's only user is banned now, so B is no longer in the room.
    await rejectsWith(transport.getRoomStateIds("a.test", roomId, someEvent), 403, "M_FORBIDDEN");
    await rejectsWith(transport.getRoomStateIds("a.test", "!nowhere:a.test", someEvent), 404, "M_NOT_FOUND");
    await rejectsWith(transport.backfill("a.test", roomId, [someEvent], 10), 403, "M_FORBIDDEN");
    await rejectsWith(transport.getEvent("a.test", "$unknown"), 404, "M_NOT_FOUND");
    await rejectsWith(transport.makeJoin("a.test", roomId, "@dave:b.test", ["1", "2"]), 400, "M_INCOMPATIBLE_ROOM_VERSION");
    await rejectsWith(transport.makeJoin("a.test", roomId, "@eve:elsewhere.test", ["10"]), 403, "M_FORBIDDEN");
    await rejectsWith(transport.makeJoin("a.test", roomId, "@bob:b.test", ["10"]), 403, "M_FORBIDDEN");

    // dave can still join (the room is public; B, unaware of the ban, joins him locally and sends the join to A):
    // then B is back in the room and may read it.
    const join = await api(b).rooms.join({ user_id: "@dave:b.test", room: roomId, via: ["a.test"] });
    assert.equal((await waitForEvent(a, join.event_id)).rejectedReason, null);
    const ids = await transport.getRoomStateIds("a.test", roomId, someEvent);
    assert.ok(ids.pdu_ids.length >= 5 && ids.auth_chain_ids.length >= 3);
    const state = await transport.getRoomState("a.test", roomId, someEvent);
    assert.deepEqual(state.pdus.map((p) => eventIdOf(p as Pdu, v10)).sort(), [...ids.pdu_ids].sort());
    const authChain = await transport.getEventAuth("a.test", roomId, someEvent);
    assert.ok(authChain.some((p) => p.type === "m.room.create"));
    const missing = await transport.getMissingEvents("a.test", roomId, { earliest_events: [], latest_events: [someEvent], limit: 3 });
    assert.equal(missing.length, 3);
    assert.deepEqual((await transport.getEvent("a.test", someEvent)).pdus.map((p) => eventIdOf(p as Pdu, v10)), [someEvent]);
  });

  it("answers the queries, public rooms, hierarchy and key endpoints", async () => {
    const transport = b.hs.transportClient;
    assert.deepEqual(await transport.queryProfile("a.test", "@alice:a.test"), { displayname: "Alice" });
    await rejectsWith(transport.queryProfile("a.test", "@nobody:a.test"), 404, "M_NOT_FOUND");
    assert.deepEqual(await transport.queryDirectory("a.test", "#hall:a.test"), { room_id: roomId, servers: ["a.test", "b.test"] });
    await rejectsWith(transport.queryDirectory("a.test", "#nope:a.test"), 404, "M_NOT_FOUND");
    const rooms = await transport.getPublicRooms("a.test");
    assert.deepEqual(rooms.chunk.map((r) => [r.room_id, r.name, r.num_joined_members]), [[roomId, "Hall", 2]]);
    assert.equal((await transport.getPublicRooms("a.test", { filter: { generic_search_term: "nothing like it" } })).chunk.length, 0);
    const hierarchy = await transport.getRoomHierarchy("a.test", roomId);
    assert.equal(hierarchy.room.room_id, roomId);
    assert.deepEqual(await transport.getUserDevices("a.test", "@alice:a.test"), { user_id: "@alice:a.test", stream_id: 0, devices: [] });
    assert.deepEqual(await transport.queryUserKeys("a.test", { "@alice:a.test": [] }), { device_keys: { "@alice:a.test": {} } });
    assert.deepEqual(await transport.claimUserKeys("a.test", { "@alice:a.test": { DEV: "signed_curve25519" } }), { one_time_keys: {} });
    // Through the FederationClient, which picks the server from the ID.
    assert.equal((await b.hs.rooms.federationClient.queryProfile("@alice:a.test", "displayname")).displayname, "Alice");
  });

  it("invites over federation with the v1 API in a version 1 room, and bob joins it", async () => {
    const { room_id } = await api(a).rooms.create({ creator: "@alice:a.test", room_version: "1" });
    await api(a).rooms.invite({ sender: "@alice:a.test", room_id, user_id: "@bob:b.test" });
    const invite = await b.hs.stores.events.getLatestMembership(room_id, "@bob:b.test");
    assert.equal(invite?.pdu.content.membership, "invite");
    assert.ok(invite?.pdu.signatures?.["a.test"] && invite.pdu.signatures["b.test"], "both servers signed the invite");
    await api(b).rooms.join({ user_id: "@bob:b.test", room: room_id });
    assert.deepEqual((await api(a).rooms.get({ room_id })).members.map((m) => [m.user_id, m.membership]), [["@alice:a.test", "join"], ["@bob:b.test", "join"]]);
    assert.match((await b.hs.stores.events.getLatestMembership(room_id, "@bob:b.test"))!.eventId, /^\$[^:]+:b\.test$/, "v1 event IDs are chosen by their server");
  });

  for (const versionId of ["3", "11", "12"]) {
    it(`joins a room of version ${versionId} over federation and speaks in it`, async () => {
      const { room_id } = await api(a).rooms.create({ creator: "@alice:a.test", room_version: versionId, preset: "public_chat" });
      await api(b).rooms.join({ user_id: "@dave:b.test", room: room_id, via: ["a.test"] });
      // A's sender is off: B's message reaches A through B's sender.
      const { event_id } = await api(b).rooms.send({ user_id: "@dave:b.test", room_id, type: "m.room.message", content: { body: `hello v${versionId}` } });
      assert.equal((await waitForEvent(a, event_id)).rejectedReason, null);
      assert.deepEqual((await api(a).rooms.get({ room_id })).members.map((m) => [m.user_id, m.membership]), [["@alice:a.test", "join"], ["@dave:b.test", "join"]]);
      assert.deepEqual((await api(b).rooms.get({ room_id })).state, (await api(a).rooms.get({ room_id })).state);
    });
  }

  it("rejects an invite through make_leave/send_leave", async () => {
    const { room_id } = await api(a).rooms.create({ creator: "@alice:a.test", room_version: "11" });
    await api(a).rooms.invite({ sender: "@alice:a.test", room_id, user_id: "@dave:b.test" });
    await api(b).rooms.leave({ user_id: "@dave:b.test", room_id });
    assert.deepEqual((await api(a).rooms.get({ room_id })).members.map((m) => [m.user_id, m.membership]), [["@alice:a.test", "join"], ["@dave:b.test", "leave"]]);
  });

  it("lets a member of an allowed room join a restricted room, vouched for by a local member", async () => {
    const { room_id: space } = await api(a).rooms.create({ creator: "@alice:a.test", room_version: "10", preset: "public_chat" });
    const { room_id: restricted } = await api(a).rooms.create({ creator: "@alice:a.test", room_version: "10" });
    await api(a).rooms.send({
      user_id: "@alice:a.test", room_id: restricted, type: "m.room.join_rules", state_key: "",
      content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: space }] },
    });
    await assert.rejects(api(b).rooms.join({ user_id: "@dave:b.test", room: restricted, via: ["a.test"] }), /BAD_GATEWAY|not in any room the join rule/);
    await api(b).rooms.join({ user_id: "@dave:b.test", room: space, via: ["a.test"] });
    const { event_id } = await api(b).rooms.join({ user_id: "@dave:b.test", room: restricted, via: ["a.test"] });
    const join = await a.hs.stores.events.getEvent(event_id);
    assert.equal(join?.pdu.content.join_authorised_via_users_server, "@alice:a.test");
    assert.ok(join?.pdu.signatures?.["a.test"], "the authorising server signed the join");
    assert.equal(join?.rejectedReason, null);
  });

  it("takes a knock through make_knock/send_knock", async () => {
    const { room_id } = await api(a).rooms.create({ creator: "@alice:a.test", room_version: "10", name: "Knock here" });
    await api(a).rooms.send({ user_id: "@alice:a.test", room_id, type: "m.room.join_rules", state_key: "", content: { join_rule: "knock" } });
    const { event: template, room_version } = await b.hs.transportClient.makeKnock("a.test", room_id, "@dave:b.test", ["10"]);
    assert.equal(room_version, "10");
    const { event, eventId } = signNewEvent(finishEvent(template as Pdu, v10, "b.test", Date.now()), v10, "b.test", b.hs.ownKeys.signingKey);
    const strippedState = await b.hs.transportClient.sendKnock("a.test", room_id, eventId, event);
    assert.ok(strippedState.some((s) => s.type === "m.room.name" && (s.content as { name?: string }).name === "Knock here"));
    assert.deepEqual((await api(a).rooms.get({ room_id })).members.find((m) => m.user_id === "@dave:b.test")?.membership, "knock");
    // A room whose join rule does not allow knocking refuses.
    await rejectsWith(b.hs.transportClient.makeKnock("a.test", roomId, "@dave:b.test", ["10"]), 403, "M_FORBIDDEN");
  });
});

async function waitForEvent(server: TestHomeServer, eventId: string) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const event = await server.hs.stores.events.getEvent(eventId);
    if (event) return event;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${server.serverName} never received ${eventId}`);
}
