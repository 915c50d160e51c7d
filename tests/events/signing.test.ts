import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeBase64, publicKeyFromBase64, signingKeyFromSeed, type JsonObject, type SigningKey } from "../../server/crypto";
import {
  checkContentHash,
  getRoomVersion,
  InvalidEventError,
  redactEvent,
  requiredSignatureServers,
  ROOM_VERSION_IDS,
  signEvent,
  verifyEventSignatures,
  type VerifyKeyLookup,
} from "../../server/events";
import { MESSAGE_EVENT, MINIMAL_EVENT } from "../support/spec-vectors";

const SPEC_KEY = signingKeyFromSeed(decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"), "1");

const MINIMAL_SIGNED: JsonObject = {
  auth_events: [],
  content: {},
  depth: 3,
  hashes: { sha256: "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos" },
  origin: "domain",
  origin_server_ts: 1000000,
  prev_events: [],
  room_id: "!x:domain",
  sender: "@a:domain",
  signatures: { domain: { "ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg" } },
  type: "X",
  unsigned: { age_ts: 1000000 },
};
const MESSAGE_SIGNED: JsonObject = {
  content: { body: "Here is the message content" },
  event_id: "$0:domain",
  hashes: { sha256: "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g" },
  origin: "domain",
  origin_server_ts: 1000000,
  type: "m.room.message",
  room_id: "!r:domain",
  sender: "@u:domain",
  signatures: { domain: { "ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA" } },
  unsigned: { age_ts: 1000000 },
};

/** A key lookup over fixed keys, recording what it was asked. */
function lookupFrom(keys: Record<string, SigningKey>, calls: Array<[string, string, number]> = []): VerifyKeyLookup {
  return (server, keyId, validAtTs) => {
    calls.push([server, keyId, validAtTs]);
    const key = keys[server];
    if (!key || key.keyId !== keyId) throw new Error(`no key ${keyId} for ${server}`);
    return publicKeyFromBase64(key.publicKeyBase64);
  };
}

const keyOf = (seedByte: number, version = "1") => signingKeyFromSeed(Buffer.alloc(32, seedByte), version);

describe("signEvent: spec appendix vectors", () => {
  test("the minimally-sized event (v3–v10, whose redaction keeps origin)", () => {
    for (const id of ROOM_VERSION_IDS.filter((v) => Number(v) >= 3 && Number(v) <= 10)) {
      assert.deepEqual(signEvent(MINIMAL_EVENT, getRoomVersion(id), "domain", SPEC_KEY), MINIMAL_SIGNED, id);
    }
  });

  test("the event with redactable content (v1–2, which carry event_id)", () => {
    for (const id of ["1", "2"]) assert.deepEqual(signEvent(MESSAGE_EVENT, getRoomVersion(id), "domain", SPEC_KEY), MESSAGE_SIGNED, id);
  });

  test("v11+ sign a redacted form without origin: same content hash, another signature", () => {
    for (const id of ["11", "12"]) {
      const signed = signEvent(MINIMAL_EVENT, getRoomVersion(id), "domain", SPEC_KEY);
      assert.deepEqual(signed.hashes, MINIMAL_SIGNED.hashes);
      assert.notDeepEqual(signed.signatures, MINIMAL_SIGNED.signatures);
    }
  });
});

describe("signEvent", () => {
  test("v1–2 need the event's $opaque:server event_id", () => {
    assert.throws(() => signEvent(MINIMAL_EVENT, getRoomVersion("1"), "domain", SPEC_KEY), InvalidEventError);
  });

  test("from v3 a carried event_id is dropped from the signed event", () => {
    const signed = signEvent({ ...MINIMAL_EVENT, event_id: "$stale" }, getRoomVersion("4"), "domain", SPEC_KEY);
    assert.deepEqual(signed, MINIMAL_SIGNED);
  });

  test("adds to signatures already there, returns a copy and leaves the input alone", () => {
    const other = keyOf(2, "o");
    const input: JsonObject = { ...MINIMAL_EVENT, signatures: { other: { "ed25519:o": "kept" }, domain: { "ed25519:0": "kept too" } } };
    const snapshot = structuredClone(input);
    const signed = signEvent(input, getRoomVersion("10"), "domain", SPEC_KEY);
    assert.deepEqual(signed.signatures, {
      other: { "ed25519:o": "kept" },
      domain: { "ed25519:0": "kept too", "ed25519:1": (MINIMAL_SIGNED.signatures as Record<string, Record<string, string>>).domain!["ed25519:1"]! },
    });
    assert.deepEqual(input, snapshot);
    const cosigned = signEvent(signed, getRoomVersion("10"), "other", other);
    assert.equal(cosigned.signatures!.domain!["ed25519:1"], signed.signatures!.domain!["ed25519:1"]);
  });
});

describe("verifyEventSignatures", () => {
  const alice = keyOf(1);
  const member: JsonObject = {
    type: "m.room.member",
    state_key: "@alice:a.example",
    sender: "@alice:a.example",
    room_id: "!r:a.example",
    content: { membership: "join", displayname: "Alice" },
    origin_server_ts: 1234,
    depth: 5,
    prev_events: [],
    auth_events: [],
  };

  test("accepts what signEvent signed, in every room version, also once redacted", async () => {
    for (const id of ROOM_VERSION_IDS) {
      const v = getRoomVersion(id);
      const event = v.eventIdFormat === "opaque" ? { ...member, event_id: "$m1:a.example" } : member;
      const signed = signEvent(event, v, "a.example", alice);
      assert.deepEqual(await verifyEventSignatures(signed, v, lookupFrom({ "a.example": alice })), { ok: true }, id);
      assert.deepEqual(await verifyEventSignatures(redactEvent(signed, v), v, lookupFrom({ "a.example": alice })), { ok: true }, id);
    }
  });

  test("a changed redactable field leaves signatures valid; the content hash catches it", async () => {
    const v = getRoomVersion("10");
    const changed = { ...signEvent(member, v, "a.example", alice), content: { membership: "join", displayname: "Mallory" } };
    assert.deepEqual(await verifyEventSignatures(changed, v, lookupFrom({ "a.example": alice })), { ok: true });
    assert.equal(checkContentHash(changed), false);
  });

  test("rejects a changed signed field, a missing signature and an unknown key", async () => {
    const v = getRoomVersion("10");
    const signed = signEvent(member, v, "a.example", alice);
    assert.deepEqual(await verifyEventSignatures({ ...signed, depth: 6 }, v, lookupFrom({ "a.example": alice })), {
      ok: false,
      reason: "bad signature from a.example with key ed25519:1",
    });
    assert.deepEqual(await verifyEventSignatures({ ...signed, signatures: {} }, v, lookupFrom({ "a.example": alice })), {
      ok: false,
      reason: "not signed by a.example",
    });
    assert.deepEqual(await verifyEventSignatures(signed, v, lookupFrom({})), {
      ok: false,
      reason: "no usable key of a.example: no key ed25519:1 for a.example",
    });
  });

  test("every signature whose key is known must verify (Synapse), unknown algorithms are ignored", async () => {
    const v = getRoomVersion("10");
    const signed = signEvent(member, v, "a.example", alice);
    const withJunk = { ...signed, signatures: { "a.example": { ...signed.signatures!["a.example"], "ed25519:2": "AAAA", "other:1": "x" } } };
    assert.deepEqual(await verifyEventSignatures(withJunk, v, lookupFrom({ "a.example": alice })), { ok: true });
    const twoKeys: VerifyKeyLookup = (_s, keyId) => publicKeyFromBase64((keyId === "ed25519:1" ? alice : keyOf(9)).publicKeyBase64);
    assert.deepEqual(await verifyEventSignatures(withJunk, v, twoKeys), { ok: false, reason: "bad signature from a.example with key ed25519:2" });
  });

  test("passes origin_server_ts as the key validity time from v5, 0 before", async () => {
    for (const [id, expected] of [["4", 0], ["5", 1234], ["12", 1234]] as const) {
      const v = getRoomVersion(id);
      const calls: Array<[string, string, number]> = [];
      await verifyEventSignatures(signEvent(member, v, "a.example", alice), v, lookupFrom({ "a.example": alice }, calls));
      assert.deepEqual(calls, [["a.example", "ed25519:1", expected]], id);
    }
    const v5 = getRoomVersion("5");
    const { origin_server_ts: _ts, ...undated } = signEvent(member, v5, "a.example", alice);
    assert.deepEqual(await verifyEventSignatures(undated, v5, lookupFrom({ "a.example": alice })), {
      ok: false,
      reason: "invalid event: origin_server_ts is missing",
    });
  });

  test("reports a malformed event instead of throwing", async () => {
    const result = await verifyEventSignatures({ type: "x" }, getRoomVersion("10"), lookupFrom({}));
    assert.equal(result.ok, false);
    assert.match((result as { reason: string }).reason, /invalid event: content/);
  });

  test("v1–2 also need the event ID's server, and check it", async () => {
    const v = getRoomVersion("1");
    const event = { ...member, event_id: "$m1:b.example" };
    const bob = keyOf(3);
    const bothSigned = signEvent(signEvent(event, v, "a.example", alice), v, "b.example", bob);
    const keys = { "a.example": alice, "b.example": bob };
    assert.deepEqual(await verifyEventSignatures(bothSigned, v, lookupFrom(keys)), { ok: true });
    assert.deepEqual(await verifyEventSignatures(signEvent(event, v, "a.example", alice), v, lookupFrom(keys)), {
      ok: false,
      reason: "not signed by b.example",
    });
  });
});

describe("requiredSignatureServers", () => {
  const join = (content: JsonObject): JsonObject => ({ type: "m.room.member", sender: "@u:a.example", state_key: "@u:a.example", content });

  test("the sender's server, and the event ID's in v1–2", () => {
    assert.deepEqual(requiredSignatureServers({ ...join({ membership: "join" }), event_id: "$e:b.example" }, getRoomVersion("2")), ["a.example", "b.example"]);
    assert.deepEqual(requiredSignatureServers({ ...join({ membership: "join" }), event_id: "$e:a.example" }, getRoomVersion("1")), ["a.example"]);
    assert.deepEqual(requiredSignatureServers({ type: "m.room.message", sender: "@u:a.example:8448", content: {} }, getRoomVersion("10")), ["a.example:8448"]);
  });

  test("the authorising server of a restricted join, from v8", () => {
    const restricted = join({ membership: "join", join_authorised_via_users_server: "@admin:c.example" });
    assert.deepEqual(requiredSignatureServers(restricted, getRoomVersion("7")), ["a.example"]);
    for (const id of ["8", "9", "12"]) assert.deepEqual(requiredSignatureServers(restricted, getRoomVersion(id)), ["a.example", "c.example"], id);
    const leave = join({ membership: "leave", join_authorised_via_users_server: "@admin:c.example" });
    assert.deepEqual(requiredSignatureServers(leave, getRoomVersion("9")), ["a.example"]);
  });

  test("not the sender's server for an invite made from a third-party invite", () => {
    const invite = { ...join({ membership: "invite", third_party_invite: { signed: {} } }), state_key: "@v:d.example" };
    assert.deepEqual(requiredSignatureServers(invite, getRoomVersion("10")), []);
  });

  test("refuses an event without a usable sender", () => {
    assert.throws(() => requiredSignatureServers({ type: "m.room.message", content: {} }, getRoomVersion("10")), /sender is missing/);
    assert.throws(() => requiredSignatureServers({ type: "m.room.message", sender: "@nodomain", content: {} }, getRoomVersion("10")), /has no server name/);
  });
});
