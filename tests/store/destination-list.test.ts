import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { describeDestination, type DestinationState } from "../../server/federation/sender/destination-status";
import type { Database } from "../../server/store/database";
import { DestinationRoomStore } from "../../server/store/destination-room-store";
import {
  DESTINATION_LIST_ORDERS, DestinationStore, type DestinationListQuery, type LiveDestination,
} from "../../server/store/destination-store";
import { openTestDatabase } from "../support/postgres";

const URGENCY: DestinationState[] = ["stuck", "backing_off", "catching_up", "never_contacted", "healthy"];
const query = (over: Partial<DestinationListQuery> = {}): DestinationListQuery => ({
  orderBy: "destination", direction: "f", start: 0, limit: 100, stateOrder: URGENCY, ...over,
});
const live = (destination: string, over: Partial<LiveDestination> = {}): LiveDestination => ({
  destination, state: "healthy", pendingPdus: 0, pendingEdus: 0, inFlightSince: null, lastSuccessTs: null, lastErrorTs: null, ...over,
});

// The listing's SQL runs on both databases the engine supports.
for (const kind of ["pglite", "postgresql"] as const) {
  describe(`the console's destination listing on ${kind}`, () => {
    let db: Database;
    let close = async () => {};
    let store: DestinationStore;

    before(async () => {
      ({ db, close } = await openTestDatabase(kind));
      store = new DestinationStore(db.prisma);
      const rooms = new DestinationRoomStore(db.prisma);
      // a.test and b.test back off (b.test for longer); c.test is owed room !r's PDU at 50, having acknowledged 40;
      // d.test acknowledged everything; e.test was never contacted; f.test is in a room but never acknowledged one.
      await store.setRetryTimings("a.test", { retryLastTs: 1_000, retryInterval: 600_000, failureTs: 900 });
      await store.setRetryTimings("b.test", { retryLastTs: 2_000, retryInterval: 1_200_000, failureTs: 500 });
      await rooms.storeEntries([
        { destination: "c.test", roomId: "!r", streamOrdering: 30 }, { destination: "c.test", roomId: "!s", streamOrdering: 50 },
        { destination: "d.test", roomId: "!r", streamOrdering: 50 }, { destination: "f.test", roomId: "!r", streamOrdering: 50 },
      ]);
      // an older entry written late does not lower the newest
      await rooms.storeEntries([{ destination: "c.test", roomId: "!s", streamOrdering: 20 }]);
      await store.setLastSuccessfulStreamOrderings(new Map([["c.test", 40], ["d.test", 50]]));
      await store.setRetryTimings("e.test", { retryLastTs: 0, retryInterval: 0, failureTs: null });
    });
    after(async () => {
      await close();
    });

    it("gives each stored row the state describeDestination gives it without a queue", async () => {
      const { rows, counts } = await store.listPage(query(), []);
      const expected: Record<string, DestinationState> = {
        "a.test": "backing_off", "b.test": "backing_off", "c.test": "catching_up", "d.test": "healthy", "e.test": "never_contacted", "f.test": "catching_up",
      };
      assert.deepEqual(Object.fromEntries(rows.map((r) => [r.destination, describeDestination(r, null, undefined, "main", 0).state])), expected);
      assert.deepEqual(Object.fromEntries(counts), { backing_off: 2, catching_up: 2, healthy: 1, never_contacted: 1 });
      assert.deepEqual(rows.find((r) => r.destination === "c.test"), {
        destination: "c.test", retryLastTs: 0, retryInterval: 0, failureTs: null, lastSuccessfulStreamOrdering: 40, newestRoomStreamOrdering: 50, roomCount: 2,
      });
      for (const state of ["backing_off", "catching_up"]) {
        const page = await store.listPage(query({ state }), []);
        assert.deepEqual(page.rows.map((r) => r.destination), Object.keys(expected).filter((d) => expected[d] === state));
      }
    });

    it("sorts by a column with empty values last both ways and the name breaking ties, and pages by offset", async () => {
      const names = async (over: Partial<DestinationListQuery>) => (await store.listPage(query(over), [])).rows.map((r) => r.destination);
      assert.deepEqual(await names({ orderBy: "failure_ts" }), ["b.test", "a.test", "c.test", "d.test", "e.test", "f.test"]);
      assert.deepEqual(await names({ orderBy: "failure_ts", direction: "b" }), ["a.test", "b.test", "c.test", "d.test", "e.test", "f.test"]);
      assert.deepEqual(await names({ orderBy: "next_retry_ts", direction: "b" }), ["b.test", "a.test", "c.test", "d.test", "e.test", "f.test"]);
      assert.deepEqual(await names({ orderBy: "retry_interval" }), ["a.test", "b.test", "c.test", "d.test", "e.test", "f.test"]);
      assert.deepEqual(await names({ orderBy: "last_successful_stream_ordering", direction: "b" }), ["d.test", "c.test", "a.test", "b.test", "e.test", "f.test"]);
      assert.deepEqual(await names({ orderBy: "state" }), ["a.test", "b.test", "c.test", "f.test", "e.test", "d.test"]);
      assert.deepEqual(await names({ orderBy: "destination", direction: "b" }), ["f.test", "e.test", "d.test", "c.test", "b.test", "a.test"]);
      assert.deepEqual(await names({ orderBy: "state", start: 2, limit: 3 }), ["c.test", "f.test", "e.test"]);
      // every order is accepted by the SQL
      for (const orderBy of DESTINATION_LIST_ORDERS) assert.equal((await names({ orderBy })).length, 6, orderBy);
    });

    it("lets live destinations take the place of their rows, sorts by their live figures and searches them", async () => {
      const figures = [
        live("d.test", { state: "stuck", pendingPdus: 3, lastErrorTs: 10 }),
        live("new.test", { state: "healthy", pendingEdus: 4, lastSuccessTs: 99 }),
        live("a.test", { state: "backing_off", pendingPdus: 7 }),
      ];
      const all = await store.listPage(query({ orderBy: "pending_pdus", direction: "b" }), figures);
      assert.deepEqual(all.rows.map((r) => r.destination), ["a.test", "d.test", "b.test", "c.test", "e.test", "f.test", "new.test"]);
      assert.deepEqual(Object.fromEntries(all.counts), { stuck: 1, backing_off: 2, catching_up: 2, never_contacted: 1, healthy: 1 });
      // a live destination with no row yet is listed with empty stored columns
      assert.deepEqual(all.rows.at(-1), {
        destination: "new.test", retryLastTs: 0, retryInterval: 0, failureTs: null, lastSuccessfulStreamOrdering: null, newestRoomStreamOrdering: null, roomCount: 0,
      });
      const stuck = await store.listPage(query({ state: "stuck" }), figures);
      assert.deepEqual(stuck.rows.map((r) => r.destination), ["d.test"]);
      assert.deepEqual((await store.listPage(query({ orderBy: "pending_edus" }), figures)).rows[0]!.destination, "new.test");
      assert.deepEqual((await store.listPage(query({ orderBy: "last_error_ts" }), figures)).rows[0]!.destination, "d.test");
      const search = await store.listPage(query({ search: "NEW" }), figures);
      assert.deepEqual([search.rows.map((r) => r.destination), Object.fromEntries(search.counts)], [["new.test"], { healthy: 1 }]);
      // a search is literal: % and _ match only themselves
      assert.deepEqual((await store.listPage(query({ search: "_" }), figures)).rows, []);
      assert.deepEqual(await store.listNames({ state: "backing_off" }, figures), ["a.test", "b.test"]);
    });

    it("clears the retry timings of many destinations in one write, reporting those that had any", async () => {
      assert.deepEqual((await store.clearRetryTimings(["a.test", "d.test", "nowhere.test"])).sort(), ["a.test"]);
      assert.deepEqual(await store.getRetryTimings("a.test"), { retryLastTs: 0, retryInterval: 0, failureTs: null });
      assert.deepEqual(await store.listNames({ state: "backing_off" }, []), ["b.test"]);
    });
  });
}
