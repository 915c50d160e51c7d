import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { signingKeyFromSeed, signJson, type JsonObject } from "../../server/crypto";
import {
  AuthError,
  authTypesForEvent,
  checkAuthEventsList,
  checkAuthRules,
  signEvent,
  type Pdu,
} from "../../server/events";
import { TEST_KEY, TestRoom, type BuiltEvent, type EventSpec } from "../support/test-room";

const ALICE = "@alice:a.test";
const MOD = "@mod:a.test";
const BOB = "@bob:b.test";
const CAROL = "@carol:c.test";

function member(sender: string, target: string, membership: string, content: JsonObject = {}): EventSpec {
  return { type: "m.room.member", sender, stateKey: target, content: { membership, ...content } };
}

function refuses(room: TestRoom, spec: EventSpec, reason?: RegExp): void {
  assert.throws(
    () => room.check(spec),
    (e: unknown) => e instanceof AuthError && (reason === undefined || reason.test(e.message)),
  );
}

/** Alice creates and joins; power levels give Alice 100 (implicitly in v12) and MOD 50; the join rule is public; MOD and BOB join. */
function standardRoom(versionId: string, extraLevels: JsonObject = {}): TestRoom {
  const room = new TestRoom(versionId, ALICE);
  room.send(member(ALICE, ALICE, "join"));
  const users: JsonObject = room.version.privilegedCreators ? { [MOD]: 50 } : { [ALICE]: 100, [MOD]: 50 };
  room.send({ type: "m.room.power_levels", sender: ALICE, stateKey: "", content: { users, ...extraLevels } });
  room.send({ type: "m.room.join_rules", sender: ALICE, stateKey: "", content: { join_rule: "public" } });
  room.send(member(MOD, MOD, "join"));
  room.send(member(BOB, BOB, "join"));
  return room;
}

function setJoinRule(room: TestRoom, joinRule: string, extra: JsonObject = {}): void {
  room.send({ type: "m.room.join_rules", sender: ALICE, stateKey: "", content: { join_rule: joinRule, ...extra } });
}

/** Adds `server`'s signature, as the authorising server of a restricted join does. */
function countersign(built: BuiltEvent, room: TestRoom, server: string): BuiltEvent {
  return { id: built.id, event: signEvent(built.event, room.version, server, TEST_KEY) };
}

describe("auth events selection", () => {
  test("a message needs the create event, power levels and the sender's membership; v12 drops the create event", () => {
    const message = { type: "m.room.message", sender: BOB, content: {} } as Pdu;
    const v11 = authTypesForEvent(message, standardRoom("11").version);
    assert.deepEqual(v11, [["m.room.create", ""], ["m.room.power_levels", ""], ["m.room.member", BOB]]);
    const v12 = authTypesForEvent(message, standardRoom("12").version);
    assert.deepEqual(v12, [["m.room.power_levels", ""], ["m.room.member", BOB]]);
  });

  test("a join adds the join rules, the target and (v8+) the authorising user; a third-party invite its token", () => {
    const join = { type: "m.room.member", sender: BOB, state_key: BOB, content: { membership: "join", join_authorised_via_users_server: MOD } } as Pdu;
    const keys = (versionId: string, event: Pdu) => authTypesForEvent(event, new TestRoom(versionId, ALICE).version).map(([t, k]) => `${t}|${k}`);
    assert.ok(keys("8", join).includes(`m.room.member|${MOD}`));
    assert.ok(!keys("7", join).includes(`m.room.member|${MOD}`));
    assert.ok(keys("7", join).includes("m.room.join_rules|"));
    const invite = {
      type: "m.room.member",
      sender: ALICE,
      state_key: CAROL,
      content: { membership: "invite", third_party_invite: { signed: { token: "tok", mxid: CAROL } } },
    } as Pdu;
    assert.ok(keys("10", invite).includes("m.room.third_party_invite|tok"));
    assert.deepEqual(authTypesForEvent({ type: "m.room.create", content: {} }, new TestRoom("1", ALICE).version), []);
  });
});

describe("checkAuthEventsList", () => {
  const authEventsOf = (room: TestRoom, built: BuiltEvent) =>
    (built.event.auth_events as string[]).map((id) => room.get(id));

  test("accepts the selected auth events and refuses duplicates, extras, rejected ones and a missing create event", () => {
    const room = standardRoom("10");
    const message = room.build({ type: "m.room.message", sender: BOB, content: { body: "hi" } });
    checkAuthEventsList(message.event, authEventsOf(room, message), room.version);
    assert.throws(
      () => checkAuthEventsList(message.event, authEventsOf(room, message), room.version, (e) => e.type === "m.room.power_levels"),
      /was itself rejected/,
    );

    const oldLevels = [...room.events].find(([, e]) => e.type === "m.room.power_levels")![0];
    room.send({ type: "m.room.power_levels", sender: ALICE, stateKey: "", content: { users: { [ALICE]: 100 } } });
    const twoLevels = room.build({ type: "m.room.message", sender: BOB, authEvents: [...(message.event.auth_events as string[]), oldLevels] });
    assert.throws(() => checkAuthEventsList(twoLevels.event, authEventsOf(room, twoLevels), room.version), AuthError);

    const withJoinRules = room.build({
      type: "m.room.message",
      sender: BOB,
      authEvents: [...(message.event.auth_events as string[]), room.state.get("m.room.join_rules\u0000")!],
    });
    assert.throws(() => checkAuthEventsList(withJoinRules.event, authEventsOf(room, withJoinRules), room.version), /does not pick/);

    const noCreate = room.build({ type: "m.room.message", sender: BOB, authEvents: (message.event.auth_events as string[]).filter((id) => id !== room.createId) });
    assert.throws(() => checkAuthEventsList(noCreate.event, authEventsOf(room, noCreate), room.version), /no m.room.create/);
    assert.throws(() => checkAuthEventsList(message.event, [], room.version), (e: unknown) => e instanceof Error && !(e instanceof AuthError));
  });

  test("refuses an auth event from another room", () => {
    const room = standardRoom("10");
    const message = room.build({ type: "m.room.message", sender: BOB });
    const auth = authEventsOf(room, message).map((e) => (e.type === "m.room.member" ? ({ ...e, room_id: "!elsewhere:b.test" } as Pdu) : e));
    assert.throws(() => checkAuthEventsList(message.event, auth, room.version), /belongs to room !elsewhere:b.test/);
  });

  test("v12: the create event must not be listed", () => {
    const room = standardRoom("12");
    const message = room.build({ type: "m.room.message", sender: BOB });
    checkAuthEventsList(message.event, authEventsOf(room, message), room.version);
    const withCreate = room.build({ type: "m.room.message", sender: BOB, authEvents: [...(message.event.auth_events as string[]), room.createId] });
    assert.throws(() => checkAuthEventsList(withCreate.event, authEventsOf(room, withCreate), room.version), /does not pick/);
  });
});

describe("m.room.create", () => {
  const create = (versionId: string, content: JsonObject, extra: JsonObject = {}) => {
    const room = new TestRoom(versionId, ALICE);
    const built = room.build({ type: "m.room.create", sender: ALICE, stateKey: "", content, prevEvents: [], authEvents: [], extra });
    return () => checkAuthRules(built.event, new Map(), room.version);
  };

  test("v1–10 need content.creator, v11 does not", () => {
    assert.doesNotThrow(create("10", { creator: ALICE, room_version: "10" }));
    assert.throws(create("10", { room_version: "10" }), /no content.creator/);
    assert.doesNotThrow(create("11", { room_version: "11" }));
  });

  test("refuses prev_events, a foreign room ID and an unknown room version", () => {
    const room = new TestRoom("6", ALICE);
    const withPrev = room.build({ type: "m.room.create", sender: ALICE, stateKey: "", content: { creator: ALICE }, authEvents: [], prevEvents: [room.createId] });
    assert.throws(() => checkAuthRules(withPrev.event, new Map(), room.version), /prev_events/);
    assert.throws(create("6", { creator: ALICE }, { room_id: "!room:b.test" }), /not on the server/);
    assert.throws(create("6", { creator: ALICE, room_version: "99" }), /unknown room version/);
  });

  test("v12: no room_id, and additional_creators must be valid user IDs", () => {
    assert.doesNotThrow(create("12", { room_version: "12", additional_creators: [BOB] }));
    assert.throws(create("12", { additional_creators: ["bob"] }), /additional_creators/);
    assert.throws(create("12", { additional_creators: BOB }), /additional_creators/);
    assert.throws(create("12", {}, { room_id: "!room:a.test" }), /no room_id/);
  });
});

describe("the create event, m.federate and membership of the sender", () => {
  test("v12: the room ID must be the hash of the create event", () => {
    const room = standardRoom("12");
    const elsewhere = new TestRoom("12", ALICE, { topic: "another room" });
    const message = room.build({ type: "m.room.message", sender: BOB });
    const authState = room.authStateOf(message.event);
    assert.doesNotThrow(() => checkAuthRules(message.event, authState, room.version));
    authState.set("m.room.create\u0000", elsewhere.get(elsewhere.createId));
    assert.throws(() => checkAuthRules(message.event, authState, room.version), /not the hash of the create event/);
  });

  test("m.federate false keeps other servers out", () => {
    const room = new TestRoom("10", ALICE, { "m.federate": false });
    room.send(member(ALICE, ALICE, "join"));
    setJoinRule(room, "public");
    assert.doesNotThrow(() => room.check(member(MOD, MOD, "join")));
    refuses(room, member(BOB, BOB, "join"), /does not federate/);
  });

  test("the sender must be joined, and state keys starting with @ belong to their user", () => {
    const room = standardRoom("10");
    refuses(room, { type: "m.room.message", sender: CAROL, content: { body: "hi" } }, /not joined/);
    assert.doesNotThrow(() => room.check({ type: "m.room.message", sender: BOB, content: { body: "hi" } }));
    refuses(room, { type: "org.example.status", sender: MOD, stateKey: BOB }, /starts with @/);
    assert.doesNotThrow(() => room.check({ type: "org.example.status", sender: MOD, stateKey: MOD }));
  });

  test("the required power level comes from events, state_default and events_default", () => {
    const room = standardRoom("10", { events: { "m.room.name": 0, "m.room.message": 10 } });
    refuses(room, { type: "m.room.topic", sender: BOB, stateKey: "" }, /needs 50/);
    assert.doesNotThrow(() => room.check({ type: "m.room.topic", sender: MOD, stateKey: "" }));
    assert.doesNotThrow(() => room.check({ type: "m.room.name", sender: BOB, stateKey: "" }));
    refuses(room, { type: "m.room.message", sender: BOB }, /needs 10/);
  });
});

describe("m.room.member: join", () => {
  test("only the creator's first join rests on the create event alone; v11 takes the creator from the sender", () => {
    const v10 = new TestRoom("10", ALICE, { creator: BOB });
    refuses(v10, member(ALICE, ALICE, "join"), /not invited/);
    assert.doesNotThrow(() => v10.check(member(BOB, BOB, "join")));
    const v11 = new TestRoom("11", ALICE, { creator: BOB });
    refuses(v11, member(BOB, BOB, "join"), /not invited/);
    assert.doesNotThrow(() => v11.check(member(ALICE, ALICE, "join")));
  });

  test("public rooms let anyone join except the banned and on behalf of others", () => {
    const room = standardRoom("10");
    assert.doesNotThrow(() => room.check(member(CAROL, CAROL, "join")));
    refuses(room, member(BOB, CAROL, "join"), /on behalf of/);
    room.send(member(ALICE, CAROL, "ban"));
    refuses(room, member(CAROL, CAROL, "join"), /banned/);
  });

  test("invite-only rooms need an invite", () => {
    const room = standardRoom("10");
    setJoinRule(room, "invite");
    refuses(room, member(CAROL, CAROL, "join"), /not invited/);
    room.send(member(ALICE, CAROL, "invite"));
    assert.doesNotThrow(() => room.check(member(CAROL, CAROL, "join")));
  });

  test("v7 knock rooms behave as invite-only for joins; v6 does not know the rule", () => {
    for (const versionId of ["6", "7"]) {
      const room = standardRoom(versionId);
      setJoinRule(room, "knock");
      room.send(member(ALICE, CAROL, "invite"));
      if (versionId === "7") assert.doesNotThrow(() => room.check(member(CAROL, CAROL, "join")));
      else refuses(room, member(CAROL, CAROL, "join"), /does not let/);
    }
  });

  test("restricted joins (v8+) need a joined authorising user able to invite, whose server signed the join", () => {
    const allow = { allow: [{ type: "m.room_membership", room_id: "!space:a.test" }] };
    const v7 = standardRoom("7");
    setJoinRule(v7, "restricted", allow);
    refuses(v7, member(CAROL, CAROL, "join", { join_authorised_via_users_server: MOD }), /does not let/);

    const room = standardRoom("8", { invite: 50 });
    setJoinRule(room, "restricted", allow);
    const viaMod = countersign(room.build(member(CAROL, CAROL, "join", { join_authorised_via_users_server: MOD })), room, "a.test");
    assert.doesNotThrow(() => checkAuthRules(viaMod.event, room.authStateOf(viaMod.event), room.version));
    const unsigned = room.build(member(CAROL, CAROL, "join", { join_authorised_via_users_server: MOD }));
    assert.throws(() => checkAuthRules(unsigned.event, room.authStateOf(unsigned.event), room.version), /not signed by a.test/);
    const viaBob = countersign(room.build(member(CAROL, CAROL, "join", { join_authorised_via_users_server: BOB })), room, "b.test");
    assert.throws(() => checkAuthRules(viaBob.event, room.authStateOf(viaBob.event), room.version), /inviting needs 50/);
    const viaStranger = countersign(room.build(member(CAROL, CAROL, "join", { join_authorised_via_users_server: "@x:a.test" })), room, "a.test");
    assert.throws(() => checkAuthRules(viaStranger.event, room.authStateOf(viaStranger.event), room.version), /not joined/);
    refuses(room, member(CAROL, CAROL, "join"), /no join_authorised_via_users_server/);
    room.send(member(ALICE, CAROL, "invite"));
    assert.doesNotThrow(() => room.check(member(CAROL, CAROL, "join")));
  });

  test("knock_restricted joins exist from v10", () => {
    for (const versionId of ["9", "10"]) {
      const room = standardRoom(versionId);
      setJoinRule(room, "knock_restricted", { allow: [] });
      const join = countersign(room.build(member(CAROL, CAROL, "join", { join_authorised_via_users_server: MOD })), room, "a.test");
      const check = () => checkAuthRules(join.event, room.authStateOf(join.event), room.version);
      if (versionId === "10") assert.doesNotThrow(check);
      else assert.throws(check, /does not let/);
    }
  });
});

describe("m.room.member: knock, invite, leave, ban", () => {
  test("knocking exists from v7, needs a knock rule and is for oneself only", () => {
    const v6 = standardRoom("6");
    setJoinRule(v6, "knock");
    refuses(v6, member(CAROL, CAROL, "knock"), /unknown membership/);

    const room = standardRoom("7");
    refuses(room, member(CAROL, CAROL, "knock"), /does not allow knocking/);
    setJoinRule(room, "knock");
    refuses(room, member(BOB, CAROL, "knock"), /on behalf of/);
    refuses(room, member(BOB, BOB, "knock"), /membership is join/);
    room.send(member(CAROL, CAROL, "knock"));
    // A knock can be withdrawn by leaving.
    assert.doesNotThrow(() => room.check(member(CAROL, CAROL, "leave")));

    const v10 = standardRoom("10");
    setJoinRule(v10, "knock_restricted", { allow: [] });
    assert.doesNotThrow(() => v10.check(member(CAROL, CAROL, "knock")));
    const v9 = standardRoom("9");
    setJoinRule(v9, "knock_restricted", { allow: [] });
    refuses(v9, member(CAROL, CAROL, "knock"), /does not allow knocking/);
  });

  test("invites need a joined sender with the invite level, and a target neither joined nor banned", () => {
    const room = standardRoom("10", { invite: 50 });
    assert.doesNotThrow(() => room.check(member(MOD, CAROL, "invite")));
    refuses(room, member(BOB, CAROL, "invite"), /inviting needs 50/);
    refuses(room, member(CAROL, "@dave:c.test", "invite"), /not joined/);
    refuses(room, member(MOD, BOB, "invite"), /already joined/);
    room.send(member(MOD, CAROL, "ban"));
    refuses(room, member(ALICE, CAROL, "invite"), /banned/);
  });

  test("leaving is for members and invitees; kicks need the kick level and more power than the target", () => {
    const room = standardRoom("10");
    assert.doesNotThrow(() => room.check(member(BOB, BOB, "leave")));
    refuses(room, member(CAROL, CAROL, "leave"), /cannot leave/);
    assert.doesNotThrow(() => room.check(member(MOD, BOB, "leave")));
    refuses(room, member(BOB, MOD, "leave"), /kicking needs 50/);
    refuses(room, member(MOD, ALICE, "leave"), /cannot kick/);
    room.send({ type: "m.room.power_levels", sender: ALICE, stateKey: "", content: { users: { [ALICE]: 100, [MOD]: 50 }, ban: 60 } });
    room.send(member(ALICE, CAROL, "ban"));
    refuses(room, member(MOD, CAROL, "leave"), /unbanning needs 60/);
    assert.doesNotThrow(() => room.check(member(ALICE, CAROL, "leave")));
  });

  test("bans need the ban level and more power than the target", () => {
    const room = standardRoom("10");
    assert.doesNotThrow(() => room.check(member(MOD, BOB, "ban")));
    assert.doesNotThrow(() => room.check(member(MOD, CAROL, "ban")));
    refuses(room, member(BOB, CAROL, "ban"), /banning needs 50/);
    refuses(room, member(MOD, ALICE, "ban"), /cannot ban/);
    refuses(room, member(CAROL, BOB, "ban"), /not joined/);
  });
});

describe("third-party invites", () => {
  const identityKey = signingKeyFromSeed(Buffer.alloc(32, 3), "1");
  const otherKey = signingKeyFromSeed(Buffer.alloc(32, 4), "2");
  const strangerKey = signingKeyFromSeed(Buffer.alloc(32, 5), "3");

  function roomWithThirdPartyInvite(): TestRoom {
    const room = standardRoom("10", { invite: 50 });
    room.send({
      type: "m.room.third_party_invite",
      sender: MOD,
      stateKey: "tok",
      content: {
        display_name: "c...@example.org",
        key_validity_url: "https://id.test/_matrix/identity/v2/pubkey/isvalid",
        public_key: identityKey.publicKeyBase64,
        public_keys: [{ public_key: otherKey.publicKeyBase64 }],
      },
    });
    return room;
  }
  const invite = (sender: string, signed: JsonObject) => member(sender, CAROL, "invite", { third_party_invite: { display_name: "carol", signed } });
  const signedBy = (key: typeof identityKey, fields: JsonObject = {}) => signJson({ mxid: CAROL, token: "tok", sender: MOD, ...fields }, "id.test", key);

  test("m.room.third_party_invite needs the invite level", () => {
    const room = standardRoom("10", { invite: 50 });
    assert.doesNotThrow(() => room.check({ type: "m.room.third_party_invite", sender: MOD, stateKey: "t" }));
    refuses(room, { type: "m.room.third_party_invite", sender: BOB, stateKey: "t" }, /inviting needs 50/);
  });

  test("an invite signed with public_key or one of public_keys is allowed", () => {
    const room = roomWithThirdPartyInvite();
    assert.doesNotThrow(() => room.check(invite(MOD, signedBy(identityKey))));
    assert.doesNotThrow(() => room.check(invite(MOD, signedBy(otherKey))));
  });

  test("a wrong key, mxid, token or inviter is refused", () => {
    const room = roomWithThirdPartyInvite();
    refuses(room, invite(MOD, signedBy(strangerKey)), /no signature/);
    refuses(room, invite(MOD, { ...signedBy(identityKey), mxid: CAROL, token: "tok", extra: 1 }), /no signature/);
    refuses(room, invite(MOD, signedBy(identityKey, { mxid: BOB })), /not the invited user/);
    refuses(room, invite(MOD, signedBy(identityKey, { token: "other" })), /no m.room.third_party_invite/);
    refuses(room, invite(ALICE, signedBy(identityKey)), /made by @mod:a.test/);
    refuses(room, member(MOD, CAROL, "invite", { third_party_invite: {} }), /no signed object/);
  });
});

describe("m.room.power_levels", () => {
  const levels = (sender: string, content: JsonObject): EventSpec => ({ type: "m.room.power_levels", sender, stateKey: "", content });

  test("users: up to one's own level for others, never touching equals", () => {
    const room = standardRoom("10");
    assert.doesNotThrow(() => room.check(levels(MOD, { users: { [ALICE]: 100, [MOD]: 50, [BOB]: 50 } })));
    refuses(room, levels(MOD, { users: { [ALICE]: 100, [MOD]: 50, [BOB]: 51 } }), /cannot give @bob:b.test power level 51/);
    assert.doesNotThrow(() => room.check(levels(MOD, { users: { [ALICE]: 100, [MOD]: 0 } })));
    room.send(levels(ALICE, { users: { [ALICE]: 100, [MOD]: 50, [CAROL]: 50 } }));
    refuses(room, levels(MOD, { users: { [ALICE]: 100, [MOD]: 50 } }), /cannot change the level of @carol:c.test/);
    refuses(room, levels(MOD, { users: { [MOD]: 50, [CAROL]: 50 } }), /cannot change the level of @alice:a.test/);
  });

  test("named levels and events: neither the old nor the new value above one's own", () => {
    const room = standardRoom("10", { events: { "m.room.power_levels": 50, "m.room.tombstone": 100 } });
    const base = { users: { [ALICE]: 100, [MOD]: 50 }, events: { "m.room.power_levels": 50, "m.room.tombstone": 100 } };
    assert.doesNotThrow(() => room.check(levels(MOD, { ...base, ban: 40 })));
    refuses(room, levels(MOD, { ...base, kick: 60 }), /cannot set kick to 60/);
    refuses(room, levels(MOD, { ...base, events: { "m.room.power_levels": 50, "m.room.tombstone": 50 } }), /cannot change events\[m.room.tombstone\] from 100/);
    assert.doesNotThrow(() => room.check(levels(MOD, { ...base, events: { ...base.events, "m.room.topic": 50 } })));
    refuses(room, levels(MOD, { ...base, events: { ...base.events, "m.room.topic": 75 } }), /cannot set events\[m.room.topic\]/);
  });

  test("notifications are only guarded from v6", () => {
    for (const versionId of ["5", "6"]) {
      const room = standardRoom(versionId, { notifications: { room: 100 } });
      const change = levels(MOD, { users: { [ALICE]: 100, [MOD]: 50 }, notifications: { room: 50 } });
      if (versionId === "5") assert.doesNotThrow(() => room.check(change));
      else refuses(room, change, /notifications\[room\]/);
    }
  });

  test("string levels are accepted until v9 and refused from v10", () => {
    const v9 = standardRoom("9");
    assert.doesNotThrow(() => v9.check(levels(ALICE, { users: { [ALICE]: "100", [MOD]: " +50 " }, ban: "50" })));
    v9.send(levels(ALICE, { users: { [ALICE]: "100", [MOD]: "50" } }));
    refuses(v9, member(BOB, MOD, "ban"), /banning needs 50/);
    assert.doesNotThrow(() => v9.check(member(MOD, BOB, "ban")));
    const v10 = standardRoom("10");
    refuses(v10, levels(ALICE, { users: { [ALICE]: "100", [MOD]: 50 } }), /not an integer/);
    refuses(v10, levels(ALICE, { users: { [ALICE]: 100 }, events: { "m.room.topic": "50" } }), /not an integer/);
    refuses(v10, levels(ALICE, { users: { [ALICE]: 100 }, ban: "50" }), /not an integer/);
  });

  test("users keys must be user IDs", () => {
    const room = standardRoom("10");
    refuses(room, levels(ALICE, { users: { [ALICE]: 100, bob: 10 } }), /not a user ID/);
  });

  test("without a power levels event the creator has 100 and others 0", () => {
    const room = new TestRoom("11", ALICE);
    room.send(member(ALICE, ALICE, "join"));
    room.send({ type: "m.room.join_rules", sender: ALICE, stateKey: "", content: { join_rule: "public" } });
    room.send(member(BOB, BOB, "join"));
    assert.doesNotThrow(() => room.check({ type: "m.room.topic", sender: ALICE, stateKey: "" }));
    refuses(room, { type: "m.room.topic", sender: BOB, stateKey: "" }, /power level 0/);
  });
});

describe("v12 privileged creators", () => {
  function creatorsRoom(versionId: string): TestRoom {
    const room = new TestRoom(versionId, ALICE, versionId === "12" ? { additional_creators: [BOB] } : {});
    room.send(member(ALICE, ALICE, "join"));
    const users: JsonObject = versionId === "12" ? { [MOD]: 100 } : { [ALICE]: 100, [BOB]: 100, [MOD]: 100 };
    room.send({ type: "m.room.power_levels", sender: ALICE, stateKey: "", content: { users } });
    room.send({ type: "m.room.join_rules", sender: ALICE, stateKey: "", content: { join_rule: "public" } });
    room.send(member(BOB, BOB, "join"));
    room.send(member(MOD, MOD, "join"));
    return room;
  }

  test("creators cannot be listed in users", () => {
    const room = creatorsRoom("12");
    refuses(room, { type: "m.room.power_levels", sender: ALICE, stateKey: "", content: { users: { [ALICE]: 100 } } }, /room creator @alice/);
    refuses(room, { type: "m.room.power_levels", sender: ALICE, stateKey: "", content: { users: { [BOB]: 50 } } }, /room creator @bob/);
  });

  test("a creator outranks a 100 admin, which v11 does not allow", () => {
    const demote = { type: "m.room.power_levels", sender: ALICE, stateKey: "", content: { users: { [MOD]: 0 } } };
    assert.doesNotThrow(() => creatorsRoom("12").check(demote));
    refuses(creatorsRoom("11"), { ...demote, content: { users: { [ALICE]: 100, [BOB]: 100, [MOD]: 0 } } }, /cannot change the level of @mod/);
  });

  test("additional creators are as powerful as the sender of the create event, and cannot be kicked by them", () => {
    const room = creatorsRoom("12");
    assert.doesNotThrow(() => room.check(member(BOB, MOD, "ban")));
    refuses(room, member(MOD, BOB, "ban"), /infinite/);
    refuses(room, member(ALICE, BOB, "leave"), /cannot kick/);
  });
});

describe("per-version special cases", () => {
  test("v1–2 redactions need the redact level or the same server; v3 leaves that to display time", () => {
    for (const versionId of ["1", "3"]) {
      const room = standardRoom(versionId);
      const fromA = room.send({ type: "m.room.message", sender: MOD, content: { body: "a" }, name: "msg-a" });
      const fromB = room.send({ type: "m.room.message", sender: BOB, content: { body: "b" }, name: "msg-b" });
      const redact = (target: string): EventSpec => ({ type: "m.room.redaction", sender: BOB, content: {}, extra: { redacts: target } });
      assert.doesNotThrow(() => room.check(redact(fromB)));
      if (versionId === "1") refuses(room, redact(fromA), /redact level/);
      else assert.doesNotThrow(() => room.check(redact(fromA)));
    }
  });

  test("v1–5 m.room.aliases only needs the sender's server as state key; v6 treats it as any state event", () => {
    const v5 = standardRoom("5");
    assert.doesNotThrow(() => v5.check({ type: "m.room.aliases", sender: CAROL, stateKey: "c.test", content: { aliases: ["#c:c.test"] } }));
    refuses(v5, { type: "m.room.aliases", sender: CAROL, stateKey: "a.test", content: { aliases: [] } }, /not the sender's server/);
    const v6 = standardRoom("6");
    refuses(v6, { type: "m.room.aliases", sender: CAROL, stateKey: "c.test", content: { aliases: [] } }, /not joined/);
    refuses(v6, { type: "m.room.aliases", sender: BOB, stateKey: "b.test", content: { aliases: [] } }, /needs 50/);
  });
});
