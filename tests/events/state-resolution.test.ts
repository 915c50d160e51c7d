import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { JsonObject } from "../../server/crypto";
import { getRoomVersion, resolveState, stateKey, stateKeyOfEvent, type StateKey, type StateMap } from "../../server/events";
import { TestRoom } from "../support/test-room";

const ALICE = "@alice:example.com";
const BOB = "@bob:example.com";
const CHARLIE = "@charlie:example.com";
const EVELYN = "@evelyn:example.com";
const ZARA = "@zara:example.com";

const JOIN = { membership: "join" };

interface FakeEvent {
  id: string;
  sender: string;
  type: string;
  stateKey?: string;
  content: JsonObject;
}

const fake = (id: string, sender: string, type: string, stateKey: string | undefined, content: JsonObject = {}): FakeEvent => ({
  id,
  sender,
  type,
  stateKey,
  content,
});

// Synapse tests/state/test_v2.py: every graph starts with these events, chained in this order.
const INITIAL_EVENTS: FakeEvent[] = [
  fake("IMA", ALICE, "m.room.member", ALICE, JOIN),
  fake("IPOWER", ALICE, "m.room.power_levels", "", { users: { [ALICE]: 100 } }),
  fake("IJR", ALICE, "m.room.join_rules", "", { join_rule: "public" }),
  fake("IMB", BOB, "m.room.member", BOB, JOIN),
  fake("IMC", CHARLIE, "m.room.member", CHARLIE, JOIN),
  fake("IMZ", ZARA, "m.room.member", ZARA, JOIN),
  fake("START", ZARA, "m.room.message", undefined),
  fake("END", ZARA, "m.room.message", undefined),
];
const INITIAL_EDGES = ["START", "IMZ", "IMC", "IMB", "IJR", "IPOWER", "IMA", "CREATE"];

/** Nodes with no remaining prev edges first, ties by node name (Synapse's lexicographical_topological_sort). */
function topologicalOrder(prevs: Map<string, Set<string>>): string[] {
  const remaining = new Map([...prevs].map(([node, edges]) => [node, new Set(edges)]));
  const order: string[] = [];
  while (remaining.size > 0) {
    const ready = [...remaining].filter(([, edges]) => edges.size === 0).map(([node]) => node).sort();
    const next = ready[0]!;
    order.push(next);
    remaining.delete(next);
    for (const edges of remaining.values()) edges.delete(next);
  }
  return order;
}

/**
 * Synapse's build_event_graph on room version 2: each node's event cites its prev nodes, its auth events come from
 * the state before it (resolved at merges), and timestamps follow the topological order.
 */
async function buildGraph(events: FakeEvent[], edges: string[][]) {
  const room = new TestRoom("2", ALICE, { creator: ALICE }, "CREATE");
  const fakes = new Map([...INITIAL_EVENTS, ...events].map((e) => [e.id, e]));
  const prevs = new Map<string, Set<string>>([["CREATE", new Set()], ...[...fakes.keys()].map((id) => [id, new Set<string>()] as const)]);
  for (const chain of [INITIAL_EDGES, ...edges]) {
    for (let i = 0; i + 1 < chain.length; i++) prevs.get(chain[i]!)!.add(chain[i + 1]!);
  }
  const idOf = (node: string) => `$${node}:example.com`;
  const stateAt = new Map<string, StateMap<string>>([["CREATE", new Map(room.state)]]);
  for (const node of topologicalOrder(prevs)) {
    if (node === "CREATE") continue;
    const prevNodes = [...prevs.get(node)!];
    const before =
      prevNodes.length === 1
        ? new Map(stateAt.get(prevNodes[0]!)!)
        : await resolveState(room.version, prevNodes.map((prev) => stateAt.get(prev)!), room.store());
    const e = fakes.get(node)!;
    const built = room.build(
      { type: e.type, sender: e.sender, stateKey: e.stateKey, content: e.content, name: node, prevEvents: prevNodes.map(idOf) },
      before,
    );
    assert.equal(built.id, idOf(node));
    room.add(built);
    const after = new Map(before);
    const key = stateKeyOfEvent(built.event);
    if (key !== undefined) after.set(key, built.id);
    stateAt.set(node, after);
  }
  return { room, stateAt, idOf };
}

/** Synapse's do_check: the state at END, where it differs from START or is expected, is exactly the expected events. */
async function doCheck(events: FakeEvent[], edges: string[][], expectedNodes: string[]): Promise<void> {
  const { room, stateAt, idOf } = await buildGraph(events, edges);
  const expected = new Map<StateKey, string>(expectedNodes.map((node) => [stateKeyOfEvent(room.get(idOf(node)))!, idOf(node)]));
  const start = stateAt.get("START")!;
  const end = new Map([...stateAt.get("END")!].filter(([key, id]) => expected.has(key) || start.get(key) !== id));
  assert.deepEqual(end, expected);
}

describe("state resolution v2 (Synapse test_v2.py)", () => {
  test("ban vs power levels: the ban by the higher-powered user wins", () =>
    doCheck(
      [
        fake("PA", ALICE, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50 } }),
        fake("MA", ALICE, "m.room.member", ALICE, JOIN),
        fake("MB", ALICE, "m.room.member", BOB, { membership: "ban" }),
        fake("PB", BOB, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50 } }),
      ],
      [
        ["END", "MB", "MA", "PA", "START"],
        ["END", "PB", "PA"],
      ],
      ["PA", "MA", "MB"],
    ));

  test("join rule evasion: a join that needed the old join rule loses", () =>
    doCheck(
      [
        fake("JR", ALICE, "m.room.join_rules", "", { join_rules: "private" }),
        fake("ME", EVELYN, "m.room.member", EVELYN, JOIN),
      ],
      [
        ["END", "JR", "START"],
        ["END", "ME", "START"],
      ],
      ["JR"],
    ));

  test("offtopic power levels: a chain of power level changes survives", () =>
    doCheck(
      [
        fake("PA", ALICE, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50 } }),
        fake("PB", BOB, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 50 } }),
        fake("PC", CHARLIE, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 0 } }),
      ],
      [
        ["END", "PC", "PB", "PA", "START"],
        ["END", "PA"],
      ],
      ["PC"],
    ));

  test("topic basic: the topic of the branch whose power levels win", () =>
    doCheck(
      [
        fake("T1", ALICE, "m.room.topic", ""),
        fake("PA1", ALICE, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50 } }),
        fake("T2", ALICE, "m.room.topic", ""),
        fake("PA2", ALICE, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 0 } }),
        fake("PB", BOB, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50 } }),
        fake("T3", BOB, "m.room.topic", ""),
      ],
      [
        ["END", "PA2", "T2", "PA1", "T1", "START"],
        ["END", "T3", "PB", "PA1"],
      ],
      ["PA2", "T2"],
    ));

  test("topic reset: banning the topic's sender brings back the old topic", () =>
    doCheck(
      [
        fake("T1", ALICE, "m.room.topic", ""),
        fake("PA", ALICE, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50 } }),
        fake("T2", BOB, "m.room.topic", ""),
        fake("MB", ALICE, "m.room.member", BOB, { membership: "ban" }),
      ],
      [
        ["END", "MB", "T2", "PA", "T1", "START"],
        ["END", "T1"],
      ],
      ["T1", "MB", "PA"],
    ));

  test("topic: a later topic on the winning mainline", () =>
    doCheck(
      [
        fake("T1", ALICE, "m.room.topic", ""),
        fake("PA1", ALICE, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50 } }),
        fake("T2", ALICE, "m.room.topic", ""),
        fake("PA2", ALICE, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 0 } }),
        fake("PB", BOB, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50 } }),
        fake("T3", BOB, "m.room.topic", ""),
        fake("MZ1", ZARA, "m.room.message", undefined),
        fake("T4", ALICE, "m.room.topic", ""),
      ],
      [
        ["END", "T4", "MZ1", "PA2", "T2", "PA1", "T1", "START"],
        ["END", "MZ1", "T3", "PB", "PA1"],
      ],
      ["T4", "PA2"],
    ));

  test("mainline sort: the topic citing the newer power levels wins over a later one citing older ones", () =>
    doCheck(
      [
        fake("T1", ALICE, "m.room.topic", ""),
        fake("PA1", ALICE, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50 } }),
        fake("T2", ALICE, "m.room.topic", ""),
        fake("PA2", ALICE, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50 }, events: { "m.room.power_levels": 100 } }),
        fake("PB", BOB, "m.room.power_levels", "", { users: { [ALICE]: 100, [BOB]: 50 } }),
        fake("T3", BOB, "m.room.topic", ""),
        fake("T4", ALICE, "m.room.topic", ""),
      ],
      [
        ["END", "T3", "PA2", "T2", "PA1", "T1", "START"],
        ["END", "T4", "PB", "PA1"],
      ],
      ["T3", "PA2"],
    ));

  test("concurrent joins of a public room are both kept (Synapse SimpleParamStateTestCase)", async () => {
    const room = new TestRoom("2", ALICE);
    const aliceJoin = room.send({ type: "m.room.member", sender: ALICE, stateKey: ALICE, content: JOIN });
    room.send({ type: "m.room.join_rules", sender: ALICE, stateKey: "", content: { join_rule: "public" } });
    const common = new Map(room.state);
    const bob = room.add(room.build({ type: "m.room.member", sender: BOB, stateKey: BOB, content: JOIN }, common));
    const charlie = room.add(room.build({ type: "m.room.member", sender: CHARLIE, stateKey: CHARLIE, content: JOIN }, common));
    const atBob = new Map([...common, [stateKey("m.room.member", BOB), bob]]);
    const atCharlie = new Map([...common, [stateKey("m.room.member", CHARLIE), charlie]]);
    const resolved = await resolveState(room.version, [atBob, atCharlie], room.store());
    assert.deepEqual(resolved, new Map([...common, [stateKey("m.room.member", BOB), bob], [stateKey("m.room.member", CHARLIE), charlie]]));
    assert.equal(resolved.get(stateKey("m.room.member", ALICE)), aliceJoin);
  });

  test("a rejected event does not enter the state; one state set resolves to itself", async () => {
    const room = new TestRoom("10", ALICE);
    room.send({ type: "m.room.member", sender: ALICE, stateKey: ALICE, content: JOIN });
    const base = new Map(room.state);
    const first = room.add(room.build({ type: "m.room.topic", sender: ALICE, stateKey: "", content: { topic: "one" } }, base));
    const second = room.add(room.build({ type: "m.room.topic", sender: ALICE, stateKey: "", content: { topic: "two" } }, base));
    const topicKey = stateKey("m.room.topic", "");
    const sets = [new Map([...base, [topicKey, first]]), new Map([...base, [topicKey, second]])];
    assert.equal((await resolveState(room.version, sets, room.store())).get(topicKey), second);
    assert.equal((await resolveState(room.version, sets, room.store([second]))).get(topicKey), first);
    assert.deepEqual(await resolveState(room.version, [sets[0]!], room.store()), sets[0]);
  });
});

/** The rooms of Synapse's tests/state/test_v21.py, built as real v12 events (room ID from the create event). */
describe("state resolution v2.1 (room version 12, Synapse test_v21.py)", () => {
  function eventMaker(room: TestRoom) {
    return (type: string, key: string, sender: string, content: JsonObject, authEvents: string[], prevEvents: string[] = []) =>
      room.add(room.build({ type, sender, stateKey: key, content, authEvents, prevEvents }));
  }

  test("state reset: replaying the conflicted subgraph keeps the newer power levels' membership", async () => {
    const room = new TestRoom("12", ALICE);
    const make = eventMaker(room);
    const ma = make("m.room.member", ALICE, ALICE, JOIN, [], [room.createId]);
    const power1 = make("m.room.power_levels", "", ALICE, { users: {} }, [ma]);
    const jr = make("m.room.join_rules", "", ALICE, { join_rule: "public" }, [ma, power1]);
    const mb = make("m.room.member", BOB, BOB, JOIN, [power1, jr]);
    const mc = make("m.room.member", CHARLIE, CHARLIE, JOIN, [power1, jr]);
    const power2 = make("m.room.power_levels", "", ALICE, { users: { [BOB]: 50 } }, [ma, power1]);
    const power3 = make("m.room.power_levels", "", BOB, { users: { [BOB]: 50, [CHARLIE]: 50 } }, [mb, power2]);
    const me1 = make("m.room.member", EVELYN, EVELYN, JOIN, [power3, jr]);
    // Eve renames herself citing the old power levels directly and the new ones through her join.
    const me2 = make("m.room.member", EVELYN, EVELYN, JOIN, [power1, jr, me1]);
    const mz = make("m.room.member", ZARA, ZARA, JOIN, [power3, jr]);

    const key = (type: string, k: string) => stateKey(type, k);
    const shared: [StateKey, string][] = [
      [key("m.room.create", ""), room.createId],
      [key("m.room.member", ALICE), ma],
      [key("m.room.member", BOB), mb],
      [key("m.room.member", CHARLIE), mc],
      [key("m.room.join_rules", ""), jr],
    ];
    const dodgy = new Map([...shared, [key("m.room.member", EVELYN), me2], [key("m.room.power_levels", ""), power1]]);
    const sensible = new Map([...shared, [key("m.room.member", ZARA), mz], [key("m.room.power_levels", ""), power3]]);
    const expected = new Map([
      ...shared,
      [key("m.room.member", EVELYN), me1],
      [key("m.room.member", ZARA), mz],
      [key("m.room.power_levels", ""), power3],
    ]);
    assert.deepEqual(await resolveState(room.version, [dodgy, sensible], room.store()), expected);
    assert.deepEqual(await resolveState(room.version, [sensible, dodgy], room.store()), expected);
  });

  /**
   * Alice changes the join rules to invite and leaves; another server offers a fork citing the old join rules. v2
   * checks both join rules against the unconflicted state, where Alice has left, and loses the join rules
   * altogether (a state reset); v2.1 starts from an empty state and keeps the newer rule.
   */
  for (const versionId of ["11", "12"]) {
    test(`join rules after the sender left: ${versionId === "12" ? "v2.1 keeps the newer rule" : "v2 resets them"}`, async () => {
      const room = new TestRoom(versionId, ALICE);
      const make = eventMaker(room);
      const createCited = room.version.createEventInAuthEvents ? [room.createId] : [];
      const ma1 = make("m.room.member", ALICE, ALICE, JOIN, [...createCited], [room.createId]);
      const users: JsonObject = room.version.privilegedCreators ? { [BOB]: 100 } : { [ALICE]: 100, [BOB]: 100 };
      const power = make("m.room.power_levels", "", ALICE, { users }, [...createCited, ma1]);
      const jr1 = make("m.room.join_rules", "", ALICE, { join_rule: "public" }, [...createCited, ma1, power]);
      const mb = make("m.room.member", BOB, BOB, JOIN, [...createCited, power, jr1]);
      const jr2 = make("m.room.join_rules", "", ALICE, { join_rule: "invite" }, [...createCited, ma1, power]);
      const ma2 = make("m.room.member", ALICE, ALICE, { membership: "leave" }, [...createCited, power, ma1]);

      const shared: [StateKey, string][] = [
        [stateKey("m.room.create", ""), room.createId],
        [stateKey("m.room.member", ALICE), ma2],
        [stateKey("m.room.member", BOB), mb],
        [stateKey("m.room.power_levels", ""), power],
      ];
      const joinRulesKey = stateKey("m.room.join_rules", "");
      const correct = new Map([...shared, [joinRulesKey, jr2]]);
      const incorrect = new Map([...shared, [joinRulesKey, jr1]]);
      const resolved = await resolveState(room.version, [correct, incorrect], room.store());
      assert.deepEqual(resolved, versionId === "12" ? correct : new Map(shared));
    });
  }
});

describe("state resolution v1 (room version 1)", () => {
  function roomV1() {
    const room = new TestRoom("1", ALICE);
    room.send({ type: "m.room.member", sender: ALICE, stateKey: ALICE, content: JOIN });
    room.send({ type: "m.room.power_levels", sender: ALICE, stateKey: "", content: { users: { [ALICE]: 100, [BOB]: 50 } } });
    room.send({ type: "m.room.join_rules", sender: ALICE, stateKey: "", content: { join_rule: "public" } });
    room.send({ type: "m.room.member", sender: BOB, stateKey: BOB, content: JOIN });
    return room;
  }

  test("other events: the deepest allowed one wins, where v2 takes the later timestamp", async () => {
    for (const versionId of ["1", "2"]) {
      const room = roomV1();
      const topicKey = stateKey("m.room.topic", "");
      const base = new Map(room.state);
      const shallowLate = room.add(room.build({ type: "m.room.topic", sender: ALICE, stateKey: "", content: { topic: "a" }, ts: 900 }, base));
      const deepEarly = room.add(room.build({ type: "m.room.topic", sender: ALICE, stateKey: "", content: { topic: "b" }, ts: 800 }, base));
      const sets = [new Map([...base, [topicKey, shallowLate]]), new Map([...base, [topicKey, deepEarly]])];
      const resolved = await resolveState(getRoomVersion(versionId), sets, room.store());
      assert.equal(resolved.get(topicKey), versionId === "1" ? deepEarly : shallowLate);
    }
  });

  test("power levels: from the shallowest, a change is kept only while the auth rules allow it", async () => {
    const room = roomV1();
    const base = new Map(room.state);
    const plKey = stateKey("m.room.power_levels", "");
    const byAlice = room.add(room.build({ type: "m.room.power_levels", sender: ALICE, stateKey: "", content: { users: { [ALICE]: 100, [BOB]: 40 } } }, base));
    const byBob = room.add(room.build({ type: "m.room.power_levels", sender: BOB, stateKey: "", content: { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 50 } } }, base));
    const sets = [new Map([...base, [plKey, byAlice]]), new Map([...base, [plKey, byBob]])];
    // Bob's change is deeper, and not allowed once Alice has lowered him to 40.
    assert.equal((await resolveState(room.version, sets, room.store())).get(plKey), byAlice);
  });

  test("a key only some state sets have is not a conflict, where v2 still auths it", async () => {
    const room = roomV1();
    const base = new Map(room.state);
    const topicKey = stateKey("m.room.topic", "");
    // Charlie never joined: the auth rules refuse his topic.
    const topic = room.add(room.build({ type: "m.room.topic", sender: CHARLIE, stateKey: "", content: { topic: "charlie's" } }, base));
    const sets = [new Map([...base, [topicKey, topic]]), new Map(base)];
    assert.equal((await resolveState(room.version, sets, room.store())).get(topicKey), topic);
    assert.equal((await resolveState(getRoomVersion("2"), sets, room.store())).get(topicKey), undefined);
  });
});
