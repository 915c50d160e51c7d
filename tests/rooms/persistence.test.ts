/**
 * Event persistence and state storage against a real database, PGlite and PostgreSQL alike: stream orderings,
 * state groups stored as deltas with periodic snapshots, forward extremities and the current state across forks
 * (resolved the way the spec requires for conflicting power levels, bans and join rules), rejected events and
 * outliers, and the events stream the federation sender reads.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { prevEventIdsOf, stateKey, type StateMap } from "../../server/events";
import { EventPersister, type PersistedEvent } from "../../server/rooms/event-persister";
import { emptyContext, StateHandler } from "../../server/rooms/state-handler";
import type { Database } from "../../server/store/database";
import { OpenBatches } from "../../server/store/event-batch";
import { EventStore } from "../../server/store/event-store";
import { RoomStore } from "../../server/store/room-store";
import { MAX_STATE_DELTA_DEPTH, StateStore } from "../../server/store/state-store";
import { openTestDatabase } from "../support/postgres";
import { TestRoom, type BuiltEvent, type EventSpec } from "../support/test-room";

const ALICE = "@alice:a.test";
const BOB = "@bob:b.test";
const CAROL = "@carol:c.test";
const silent = { debug() {}, info() {}, warn() {}, error() {} };

interface Engine {
  db: Database;
  events: EventStore;
  state: StateStore;
  stateHandler: StateHandler;
  persister: EventPersister;
  notified: PersistedEvent[];
}

function engine(db: Database): Engine {
  const batches = new OpenBatches();
  const state = new StateStore(db.prisma, batches);
  const events = new EventStore(db.prisma, state, "main", batches);
  const stateHandler = new StateHandler(events, state);
  const persister = new EventPersister({ events, state, stateHandler, log: silent });
  const notified: PersistedEvent[] = [];
  persister.onPersisted((e) => notified.push(e));
  return { db, events, state, stateHandler, persister, notified };
}

/** A room of version 10 with alice (creator, 100), bob (50) and carol joined, public. */
let rooms = 0;

async function startRoom(e: Engine): Promise<TestRoom> {
  const room = new TestRoom("10", ALICE, {}, undefined, `room${++rooms}`);
  await new RoomStore(e.db.prisma).storeRoom(room.roomId, "10", Date.now());
  await e.persister.persist({ event: room.get(room.createId), version: room.version, context: emptyContext() });
  const setup: EventSpec[] = [
    { type: "m.room.member", sender: ALICE, stateKey: ALICE, content: { membership: "join" } },
    { type: "m.room.power_levels", sender: ALICE, stateKey: "", content: { users: { [ALICE]: 100, [BOB]: 50 } } },
    { type: "m.room.join_rules", sender: ALICE, stateKey: "", content: { join_rule: "public" } },
    { type: "m.room.member", sender: BOB, stateKey: BOB, content: { membership: "join" } },
    { type: "m.room.member", sender: CAROL, stateKey: CAROL, content: { membership: "join" } },
  ];
  for (const spec of setup) await persistBuilt(e, room, room.check(spec));
  return room;
}

/** Persists a built event as a timeline event on the state after its prev events, and adds it to the test room. */
async function persistBuilt(e: Engine, room: TestRoom, built: BuiltEvent, rejectedReason: string | null = null): Promise<PersistedEvent> {
  const context = await e.stateHandler.computeContext(room.version, prevEventIdsOf(built.event, room.version));
  const persisted = await e.persister.persist({ event: built.event, version: room.version, context, rejectedReason });
  if (rejectedReason === null) room.add(built);
  return persisted;
}

function named(state: StateMap<string>, type: string, key = ""): string | undefined {
  return state.get(stateKey(type, key));
}

function persistenceSuite(label: string, open: () => Promise<{ db: Database; done(): Promise<void> }>): void {
  describe(`event persistence on ${label}`, () => {
    let e: Engine;
    let done: () => Promise<void>;
    before(async () => {
      const opened = await open();
      e = engine(opened.db);
      done = opened.done;
    });
    after(() => done?.());

    it("assigns increasing stream orderings and keeps the state after every event", async () => {
      const room = await startRoom(e);
      const message = await persistBuilt(e, room, room.check({ type: "m.room.message", sender: BOB, content: { body: "hi" } }));
      const orderings = e.notified.map((n) => n.streamOrdering);
      assert.deepEqual(orderings, [...orderings].sort((x, y) => x - y));
      assert.equal(new Set(orderings).size, orderings.length);
      assert.deepEqual(e.notified.map((n) => n.type).slice(-3), ["m.room.member", "m.room.member", "m.room.message"]);
      assert.deepEqual(await e.state.getCurrentState(room.roomId), room.state);
      assert.deepEqual(await e.state.getStateAfterEvent(message.eventId), room.state);
      assert.deepEqual(await e.events.getForwardExtremities(room.roomId), [message.eventId]);
      // The events stream can be read back from any position, as a consumer catching up would.
      const since = await e.events.getEventsSince(orderings[2]!, 100);
      assert.deepEqual(since.map((s) => s.eventId), e.notified.slice(3).map((n) => n.eventId));
      // Servers in the room before bob's join (alice's only) and now.
      const bobJoin = room.state.get(stateKey("m.room.member", BOB))!;
      assert.deepEqual([...(await e.state.joinedHostsAtEvent(bobJoin))!], ["a.test"]);
      assert.deepEqual([...(await e.state.currentJoinedHosts(room.roomId))].sort(), ["a.test", "b.test", "c.test"]);
    });

    it("stores state as deltas with a full snapshot at least every MAX_STATE_DELTA_DEPTH groups", async () => {
      const room = await startRoom(e);
      const afterEach: Array<[string, StateMap<string>]> = [];
      for (let i = 0; i < MAX_STATE_DELTA_DEPTH + 10; i++) {
        const persisted = await persistBuilt(e, room, room.check({ type: "m.room.topic", sender: BOB, stateKey: "", content: { topic: `t${i}` } }));
        afterEach.push([persisted.eventId, new Map(room.state)]);
      }
      const groups = await e.db.prisma.stateGroup.findMany({ where: { roomId: room.roomId }, orderBy: { id: "asc" } });
      assert.ok(groups.every((g) => g.deltaDepth < MAX_STATE_DELTA_DEPTH));
      assert.ok(groups.filter((g) => g.prevStateGroup === null).length >= 2, "a snapshot was taken along the way");
      const deltaRows = await e.db.prisma.stateGroupState.count({ where: { stateGroup: groups.at(-1)!.id } });
      assert.ok(deltaRows <= 1, "a delta holds only what changed");
      // Read back from the database, not from the write-through cache.
      const fresh = engine(e.db);
      for (const [eventId, expected] of [afterEach[0]!, afterEach[MAX_STATE_DELTA_DEPTH - 1]!, afterEach.at(-1)!]) {
        assert.deepEqual(await fresh.state.getStateAfterEvent(eventId), expected);
      }
      // A message shares the state group of its prev event rather than writing a new one.
      const message = await persistBuilt(e, room, room.check({ type: "m.room.message", sender: BOB, content: {} }));
      const [prevOfMessage] = prevEventIdsOf(room.get(message.eventId), room.version);
      assert.equal((await e.state.stateGroupOfEvent(message.eventId))!.group, (await e.state.stateGroupOfEvent(prevOfMessage!))!.group);
      assert.deepEqual(await e.stateHandler.stateBeforeEvent(afterEach[1]![0]), afterEach[0]![1]);
    });

    it("keeps rejected events without letting them change state or extremities", async () => {
      const room = await startRoom(e);
      const extremities = await e.events.getForwardExtremities(room.roomId);
      const overreach = room.build({ type: "m.room.power_levels", sender: CAROL, stateKey: "", content: { users: { [CAROL]: 100 } } });
      const persisted = await persistBuilt(e, room, overreach, "carol may not change power levels");
      assert.equal(persisted.rejected, true);
      assert.equal((await e.events.getEvent(overreach.id))?.rejectedReason, "carol may not change power levels");
      assert.deepEqual(await e.events.getForwardExtremities(room.roomId), extremities);
      assert.notEqual(named(await e.state.getCurrentState(room.roomId), "m.room.power_levels"), overreach.id);
      assert.deepEqual((await e.events.getRoomMessages(room.roomId, 100)).filter((m) => m.eventId === overreach.id), []);
    });

    it("checks each queued event against those queued before it, and writes the batch in one transaction", async () => {
      const room = await startRoom(e);
      const dave = "@dave:d.test";
      const notifiedBefore = e.notified.length;
      const specs: EventSpec[] = [
        { type: "m.room.member", sender: dave, stateKey: dave, content: { membership: "join" } },
        { type: "m.room.message", sender: dave, content: { body: "my first words here" } },
        { type: "m.room.topic", sender: BOB, stateKey: "", content: { topic: "batched" } },
        { type: "m.room.message", sender: BOB, content: { body: "on the new topic" } },
      ];
      const queued: string[] = [];
      const batch = e.persister.openBatch(room.roomId);
      try {
        for (const spec of specs) {
          const built = room.check(spec);
          const context = await e.stateHandler.computeContext(room.version, prevEventIdsOf(built.event, room.version));
          // dave's message cites his queued join among its auth events: it must be found
          assert.equal(await e.stateHandler.rejectionByAuthEvents(built.event, room.version), null);
          assert.equal(await e.stateHandler.rejectionByState(built.event, room.version, context.stateBefore), null);
          await e.persister.queue({ event: built.event, version: room.version, context }, batch);
          room.add(built);
          queued.push(built.id);
        }
        assert.deepEqual(await e.state.getCurrentState(room.roomId), room.state);
        assert.deepEqual(await e.events.getForwardExtremities(room.roomId), [queued.at(-1)]);
        assert.equal(await e.db.prisma.event.count({ where: { eventId: { in: queued } } }), 0, "nothing is written before the commit");
        assert.equal(e.notified.length, notifiedBefore, "nor told to the events stream");
        const written = await e.persister.commit(batch);
        assert.deepEqual(written.map((w) => w.eventId), queued);
        assert.deepEqual(written.map((w) => w.streamOrdering), [...written.map((w) => w.streamOrdering)].sort((x, y) => x - y));
        assert.deepEqual(e.notified.slice(notifiedBefore).map((n) => n.eventId), queued);
      } finally {
        e.persister.closeBatch(batch);
      }
      // What the database holds, read by an engine with empty caches.
      const fresh = engine(e.db);
      assert.deepEqual(await fresh.state.getCurrentState(room.roomId), room.state);
      assert.deepEqual(await fresh.events.getForwardExtremities(room.roomId), [queued.at(-1)]);
      assert.equal(named((await fresh.state.getStateAfterEvent(queued[2]!))!, "m.room.topic"), queued[2]);
      assert.deepEqual([...(await fresh.state.currentJoinedHosts(room.roomId))].sort(), ["a.test", "b.test", "c.test", "d.test"]);
      assert.ok((await fresh.events.getAuthChainIds([queued[1]!])).has(queued[0]!));
    });

    it("drops a batch whose write fails, and refuses events that would build on it", async () => {
      const room = await startRoom(e);
      const extremities = await e.events.getForwardExtremities(room.roomId);
      const topic = room.check({ type: "m.room.topic", sender: BOB, stateKey: "", content: { topic: "never written" } });
      const batch = e.persister.openBatch(room.roomId);
      try {
        const context = await e.stateHandler.computeContext(room.version, prevEventIdsOf(topic.event, room.version));
        await e.persister.queue({ event: topic.event, version: room.version, context }, batch);
        // Another writer takes the state group ID the topic planned: the batch's transaction fails on it.
        const planned = (await e.state.stateGroupOfEvent(topic.id))!.group;
        await e.db.prisma.stateGroup.create({ data: { id: BigInt(planned), roomId: room.roomId, eventId: "$other", deltaDepth: 0 } });
        await assert.rejects(e.persister.commit(batch));
        assert.equal(await e.events.getEvent(topic.id), null, "the queued event is gone");
        assert.deepEqual(await e.events.getForwardExtremities(room.roomId), extremities);
        assert.notEqual(named(await e.state.getCurrentState(room.roomId), "m.room.topic"), topic.id);
        const next = room.build({ type: "m.room.message", sender: BOB, content: { body: "after the failure" } });
        await assert.rejects(e.persister.queue({ event: next.event, version: room.version, context }, batch), /earlier write .* failed/);
        await assert.rejects(e.persister.commit(batch), /earlier write .* failed/);
      } finally {
        e.persister.closeBatch(batch);
      }
      assert.equal(await e.db.prisma.event.count({ where: { eventId: topic.id } }), 0);
    });

    it("keeps outliers out of the timeline, and takes one into it when it arrives as a timeline event", async () => {
      const room = await startRoom(e);
      const built = room.check({ type: "m.room.message", sender: CAROL, content: { body: "fetched first" } });
      const [outlier] = await e.persister.persistOutliers([{ event: built.event, version: room.version, rejectedReason: null }]);
      assert.equal(outlier?.outlier, true);
      assert.equal(await e.state.stateGroupOfEvent(built.id), null);
      assert.deepEqual([...(await e.events.haveTimelineEvents([built.id]))], []);
      const timeline = await persistBuilt(e, room, built);
      assert.equal(timeline.outlier, false);
      assert.ok(timeline.streamOrdering > outlier!.streamOrdering, "it gets a new position on the events stream");
      assert.deepEqual(await e.events.getForwardExtremities(room.roomId), [built.id]);
    });

    it("resolves forks the way the spec requires: power levels, bans and join rules", async () => {
      const room = await startRoom(e);
      const fork = (await e.events.getForwardExtremities(room.roomId))[0]!;
      const forkState = new Map(room.state);
      // One branch: alice takes bob's power and bans carol. The other, built on the same state: bob (still 50 there)
      // makes the room invite-only, and carol changes the topic.
      const demote = room.build({ type: "m.room.power_levels", sender: ALICE, stateKey: "", content: { users: { [ALICE]: 100 } }, prevEvents: [fork] }, forkState);
      await persistBuilt(e, room, demote);
      const ban = room.build({ type: "m.room.member", sender: ALICE, stateKey: CAROL, content: { membership: "ban" }, prevEvents: [demote.id] });
      await persistBuilt(e, room, ban);
      const joinRule = room.build({ type: "m.room.join_rules", sender: BOB, stateKey: "", content: { join_rule: "invite" }, prevEvents: [fork] }, forkState);
      await persistBuilt(e, room, joinRule);
      const topic = room.build({ type: "m.room.topic", sender: CAROL, stateKey: "", content: { topic: "carol was here" }, prevEvents: [joinRule.id] }, new Map([...forkState, [stateKey("m.room.join_rules", ""), joinRule.id]]));
      await persistBuilt(e, room, topic);

      assert.deepEqual(await e.events.getForwardExtremities(room.roomId), [ban.id, topic.id].sort());
      const current = await e.state.getCurrentState(room.roomId);
      // Power events first: the demotion stands, so bob's join rule change (at 0 now) fails the iterative auth checks;
      // carol is banned, so her topic fails too.
      assert.equal(named(current, "m.room.power_levels"), demote.id);
      assert.equal(named(current, "m.room.member", CAROL), ban.id);
      assert.notEqual(named(current, "m.room.join_rules"), joinRule.id);
      assert.equal(named(current, "m.room.topic"), undefined);
      assert.deepEqual([...(await e.state.currentJoinedHosts(room.roomId))].sort(), ["a.test", "b.test"]);
      // The merge event that follows builds on the resolved state.
      const merge = await persistBuilt(e, room, room.check({ type: "m.room.message", sender: ALICE, content: {}, prevEvents: [ban.id, topic.id] }));
      assert.deepEqual(await e.events.getForwardExtremities(room.roomId), [merge.eventId]);
      assert.deepEqual(await e.state.getStateAfterEvent(merge.eventId), current);
    });
  });
}

persistenceSuite("PGlite", async () => {
  const { db, close } = await openTestDatabase("pglite");
  return { db, done: close };
});

persistenceSuite("PostgreSQL", async () => {
  const { db, close } = await openTestDatabase("postgresql");
  return { db, done: close };
});
