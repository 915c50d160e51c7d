/**
 * Rooms over federation between three real Switchyard instances on loopback: A creates a room, B joins through
 * A, C is invited over federation and joins; everyone sends messages and state changes and all three end up with
 * the same state and members. Events with a bad signature, a bad content hash or that break the auth rules are
 * handled as the spec says. C is stopped while A and B go on; restarted on its on-disk database, it catches up
 * through missing events, the state at the gap, and backfill.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createCaller } from "../../server/api/root";
import { signingKeyFromSeed } from "../../server/crypto";
import { eventIdOf, getRoomVersion, signEvent, type Pdu } from "../../server/events";
import { restartTestHomeServer, startFederation, type TestHomeServer, type TestServerInput } from "../support/homeserver";
import { waitFor } from "../support/wait";

/**
 * A failed destination backs off for longer than the sender's catch-up threshold (1 h), so its queued PDUs are
 * dropped and it must be caught up from the database when it comes back: the path a long outage takes.
 */
const LONG_BACKOFF = { destination_min_retry_interval: "2h" };
const version = getRoomVersion("10");

let a: TestHomeServer;
let b: TestHomeServer;
let c: TestHomeServer;
let cInput: TestServerInput;
const cDir = mkdtempSync(join(tmpdir(), "switchyard-c-"));
let roomId: string;

const api = (server: TestHomeServer) => createCaller({ hs: server.hs, authenticated: true });


/** What a server says the room is: its state (type, state_key → event ID) and members. */
async function view(server: TestHomeServer) {
  const room = await api(server).rooms.get({ room_id: roomId });
  return {
    state: Object.fromEntries(room.state.map((s) => [`${s.type}|${s.state_key}`, s.event_id])),
    members: room.members,
  };
}

/** Waits until every server reports the same state and members as the first, which must satisfy `check`. */
async function converged(servers: TestHomeServer[], check: (v: Awaited<ReturnType<typeof view>>) => boolean) {
  let views: Array<Awaited<ReturnType<typeof view>>> = [];
  return waitFor(`${servers.map((s) => s.serverName).join(", ")} to agree`, async () => {
    views = await Promise.all(servers.map(view));
    if (process.env.DEBUG_VIEWS) console.log(JSON.stringify(views, null, 1));
    if (!check(views[0]!)) return undefined;
    return views.every((v) => JSON.stringify(v) === JSON.stringify(views[0])) ? views[0] : undefined;
  });
}

async function messagesOn(server: TestHomeServer, limit = 100): Promise<string[]> {
  const { events } = await api(server).rooms.messages({ room_id: roomId, limit });
  return events.filter((e) => e.type === "m.room.message").map((e) => String(e.content.body)).reverse();
}

/** An event built on A's view of the room as `sender` would, signed with B's key (hostile PDUs sent as B). */
async function craftAsB(fields: { type: string; sender: string; content: Record<string, unknown>; stateKey?: string }): Promise<Pdu> {
  const { event } = await a.hs.rooms.eventCreation.buildUnsigned(roomId, fields as never);
  return signEvent(event, version, "b.test", b.hs.ownKeys.signingKey);
}

async function sendFromB(pdus: Pdu[]): Promise<Record<string, { error?: string }>> {
  const response = await b.hs.transportClient.sendTransaction("a.test", `hostile-${Date.now()}`, { origin: "b.test", origin_server_ts: Date.now(), pdus, edus: [] });
  await a.hs.rooms.stagingWorkers.idle();
  return response.pdus;
}

describe("rooms over federation between three servers", () => {
  before(async () => {
    cInput = { server_name: "c.test", data_dir: cDir, database: { url: `pglite:${join(cDir, "db")}` } };
    [a, b, c] = (await startFederation([
      { server_name: "a.test", federation: LONG_BACKOFF },
      { server_name: "b.test", federation: LONG_BACKOFF },
      cInput,
    ])) as [TestHomeServer, TestHomeServer, TestHomeServer];
    await api(a).users.create({ localpart: "alice" });
    await api(b).users.create({ localpart: "bob" });
    await api(c).users.create({ localpart: "carol" });
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
    rmSync(cDir, { recursive: true, force: true });
  });

  it("lets B join through A and C join on an invite, and all three agree", async () => {
    roomId = (await api(a).rooms.create({ creator: "@alice:a.test", room_version: "10", name: "Federated", preset: "public_chat" })).room_id;
    await api(a).rooms.send({ user_id: "@alice:a.test", room_id: roomId, type: "m.room.message", content: { body: "before anyone" } });
    await api(b).rooms.join({ user_id: "@bob:b.test", room: roomId, via: ["a.test"] });
    await api(a).rooms.invite({ sender: "@alice:a.test", room_id: roomId, user_id: "@carol:c.test" });
    // C holds only the invite, and joins through the inviter's server.
    assert.equal((await api(c).rooms.list()).find((r) => r.room_id === roomId)?.joined, false);
    await api(c).rooms.join({ user_id: "@carol:c.test", room: roomId });
    const agreed = await converged([a, b, c], (v) => v.members.length === 3 && v.members.every((m) => m.membership === "join"));
    assert.deepEqual(agreed.members.map((m) => m.user_id), ["@alice:a.test", "@bob:b.test", "@carol:c.test"]);
    for (const server of [a, b, c]) assert.deepEqual((await api(server).rooms.get({ room_id: roomId })).servers, ["a.test", "b.test", "c.test"]);
  });

  it("carries messages and state changes from every server to the others", async () => {
    await api(a).rooms.send({ user_id: "@alice:a.test", room_id: roomId, type: "m.room.message", content: { body: "from a" } });
    await api(b).rooms.send({ user_id: "@bob:b.test", room_id: roomId, type: "m.room.message", content: { body: "from b" } });
    await api(c).rooms.send({ user_id: "@carol:c.test", room_id: roomId, type: "m.room.message", content: { body: "from c" } });
    const levels = (await api(a).rooms.get({ room_id: roomId })).state.find((s) => s.type === "m.room.power_levels")!.content;
    await api(a).rooms.send({
      user_id: "@alice:a.test", room_id: roomId, type: "m.room.power_levels", state_key: "",
      content: { ...levels, users: { ...(levels.users as object), "@bob:b.test": 50 } },
    });
    await api(a).rooms.send({ user_id: "@alice:a.test", room_id: roomId, type: "m.room.topic", state_key: "", content: { topic: "three servers" } });
    // B waits until it has seen its new power, then uses it.
    await waitFor("B to see its power level", async () =>
      ((await api(b).rooms.get({ room_id: roomId })).state.find((s) => s.type === "m.room.power_levels")!.content.users as Record<string, number>)["@bob:b.test"] === 50 || undefined);
    await api(b).rooms.send({ user_id: "@bob:b.test", room_id: roomId, type: "m.room.name", state_key: "", content: { name: "Renamed by B" } });
    await api(c).rooms.send({ user_id: "@carol:c.test", room_id: roomId, type: "m.room.member", state_key: "@carol:c.test", content: { membership: "join", displayname: "Carol" } });

    await converged([a, b, c], (v) => Object.keys(v.state).includes("m.room.topic|"));
    for (const server of [a, b, c]) {
      const room = await api(server).rooms.get({ room_id: roomId });
      const content = (type: string, key = "") => room.state.find((s) => s.type === type && s.state_key === key)?.content;
      assert.equal(content("m.room.name")?.name, "Renamed by B", server.serverName);
      assert.equal(content("m.room.topic")?.topic, "three servers");
      assert.equal(content("m.room.member", "@carol:c.test")?.displayname, "Carol");
      const messages = await messagesOn(server);
      for (const body of ["from a", "from b", "from c"]) assert.ok(messages.includes(body), `${server.serverName} has "${body}"`);
    }
  });

  it("refuses a bad signature, keeps the redacted form of a bad hash, and rejects an event that breaks the rules", async () => {
    const forged = signEvent(
      (await a.hs.rooms.eventCreation.buildUnsigned(roomId, { type: "m.room.message", sender: "@bob:b.test", content: { body: "forged" } })).event,
      version, "b.test", { ...signingKeyFromSeed(Buffer.alloc(32, 9), "x"), keyId: b.hs.ownKeys.signingKey.keyId },
    );
    const tampered = { ...(await craftAsB({ type: "m.room.message", sender: "@bob:b.test", content: { body: "original" } })), content: { body: "tampered" } };
    // Bob has power 50; history visibility needs 100.
    const overreach = await craftAsB({ type: "m.room.history_visibility", sender: "@bob:b.test", stateKey: "", content: { history_visibility: "world_readable" } });
    const results = await sendFromB([forged, tampered, overreach]);

    assert.match(results[eventIdOf(forged, version)]?.error ?? "", /Signature check failed/);
    assert.equal(await a.hs.stores.events.getEvent(eventIdOf(forged, version)), null, "a PDU with a bad signature is not kept");

    const redacted = await a.hs.stores.events.getEvent(eventIdOf(tampered, version));
    assert.deepEqual(results[eventIdOf(tampered, version)], {});
    assert.deepEqual(redacted?.pdu.content, {}, "a content hash mismatch keeps only the redacted form");
    assert.equal(redacted?.rejectedReason, null);

    const rejected = await a.hs.stores.events.getEvent(eventIdOf(overreach, version));
    assert.match(rejected?.rejectedReason ?? "", /power level 50 but sending m.room.history_visibility needs 100/);
    const room = await api(a).rooms.get({ room_id: roomId });
    assert.equal(room.state.find((s) => s.type === "m.room.history_visibility")?.content.history_visibility, "shared", "a rejected event changes no state");
    assert.ok(!room.forward_extremities.includes(eventIdOf(overreach, version)));
    assert.ok(!(await messagesOn(a)).includes("tampered"));
  });

  it("brings C back up to date after it was down while A and B went on", async () => {
    // C accepts a PDU into staging and goes down before processing it, as if it crashed right after the 200.
    await c.hs.rooms.stagingWorkers.stop();
    const accepted = await api(a).rooms.send({ user_id: "@alice:a.test", room_id: roomId, type: "m.room.message", content: { body: "accepted before the crash" } });
    await waitFor("C to stage A's event", async () => ((await c.hs.stores.staging.countByRoom()).get(roomId) ?? 0) > 0 || undefined);
    await c.stop({ keepData: true });
    const whileDown: string[] = [];
    for (let i = 1; i <= 14; i++) {
      whileDown.push(`while C was down ${i}`);
      await api(i % 5 === 0 ? b : a).rooms.send({ user_id: i % 5 === 0 ? "@bob:b.test" : "@alice:a.test", room_id: roomId, type: "m.room.message", content: { body: whileDown.at(-1)! } });
    }
    await api(a).rooms.send({ user_id: "@alice:a.test", room_id: roomId, type: "m.room.topic", state_key: "", content: { topic: "changed while C was down" } });
    await converged([a, b], (v) => (v.state["m.room.topic|"] ?? "") !== "");

    c = await restartTestHomeServer(c, { ...cInput, federation_domain_overrides: { "a.test": a.baseUrl, "b.test": b.baseUrl, "c.test": c.baseUrl } });
    await c.hs.rooms.stagingWorkers.idle();
    assert.deepEqual(await c.hs.stores.staging.countByRoom(), new Map(), "the restarted worker drained staging");
    assert.equal((await c.hs.stores.events.getEvent(accepted.event_id))?.outlier, false, "nothing accepted was lost");
    // C speaks first: A and B see it is back, end its backoff and catch it up with the room's newest events; C
    // fetches the events in between (get_missing_events, then the state at what is still missing).
    await api(c).rooms.send({ user_id: "@carol:c.test", room_id: roomId, type: "m.room.message", content: { body: "back" } });
    await converged([a, b, c], (v) => v.members.length === 3);
    const topic = (await api(c).rooms.get({ room_id: roomId })).state.find((s) => s.type === "m.room.topic")!.content.topic;
    assert.equal(topic, "changed while C was down");
    await waitFor("A and B to hear from C again", async () =>
      (await messagesOn(a)).includes("back") && (await messagesOn(b)).includes("back") || undefined);
    // What get_missing_events did not cover, C backfills when its timeline is read.
    const seen = await waitFor("C to hold every message sent while it was down", async () => {
      const messages = await messagesOn(c);
      return whileDown.every((m) => messages.includes(m)) ? messages : undefined;
    });
    assert.ok(seen.includes("from a") && seen.includes("accepted before the crash"));
  });
});
