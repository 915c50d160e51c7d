import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { encodeBase64, parseStrictJson, type JsonObject } from "../../server/crypto";
import {
  checkContentHash,
  computeContentHash,
  computeEventId,
  computeReferenceHash,
  computeRoomId,
  getRoomVersion,
  InvalidEventError,
  ROOM_VERSION_IDS,
} from "../../server/events";
import { MESSAGE_EVENT, MINIMAL_EVENT } from "../support/spec-vectors";

// Spec appendix "Cryptographic Test Vectors", event signing inputs.

// Real events created by Synapse, with the event IDs gomatrixserverlib's eventversion_test.go expects.
const V1_EVENT = parseStrictJson(
  '{"auth_events":[["$oXL79cT7fFxR7dPH:localhost",{"sha256":"abjkiDSg1RkuZrbj2jZoGMlQaaj1Ue3Jhi7I7NlKfXY"}],["$IVUsaSkm1LBAZYYh:localhost",{"sha256":"X7RUj46hM/8sUHNBIFkStbOauPvbDzjSdH4NibYWnko"}],["$VS2QT0EeArZYi8wf:localhost",{"sha256":"k9eM6utkCH8vhLW9/oRsH74jOBS/6RVK42iGDFbylno"}]],"content":{"name":"test3"},"depth":7,"event_id":"$yvN1b43rlmcOs5fY:localhost","hashes":{"sha256":"Oh1mwI1jEqZ3tgJ+V1Dmu5nOEGpCE4RFUqyJv2gQXKs"},"origin":"localhost","origin_server_ts":1510854416361,"prev_events":[["$FqI6TVvWpcbcnJ97:localhost",{"sha256":"upCsBqUhNUgT2/+zkzg8TbqdQpWWKQnZpGJc6KcbUC4"}]],"prev_state":[],"room_id":"!19Mp0U9hjajeIiw1:localhost","sender":"@test:localhost","signatures":{"localhost":{"ed25519:u9kP":"5IzSuRXkxvbTp0vZhhXYZeOe+619iG3AybJXr7zfNn/4vHz4TH7qSJVQXSaHHvcTcDodAKHnTG1WDulgO5okAQ"}},"state_key":"","type":"m.room.name"}',
) as JsonObject;
const V3_CREATE_EVENT = parseStrictJson(
  '{"auth_events": [], "prev_events": [], "type": "m.room.create", "room_id": "!uXDCzlYgCTHtiWCkEx:jki.re", "sender": "@erikj:jki.re", "content": {"room_version": "5", "predecessor": {"room_id": "!gdRMqOrTFdOCYHNwOo:half-shot.uk", "event_id": "$LP7ROBc4b+cMc1UE9haIz8q5AK2AIW4eJ90FfKLvyZI"}, "creator": "@erikj:jki.re"}, "depth": 1, "prev_state": [], "state_key": "", "origin": "jki.re", "origin_server_ts": 1560284621137, "hashes": {"sha256": "IX6zuNiJpJPNf70BLleL3HSCpjKeq9Uhu7uUpyDjBmc"}, "signatures": {"jki.re": {"ed25519:auto": "O4IyFfF2PPtGp5uaDm8t57dZbdh8vc8Q64LgCwvzYRVItAMI0uisfiAFaxkVT7MRpzh6N2QNN5NMRXZKmgPYDA"}}, "unsigned": {"age": 1321650}}',
) as JsonObject;

describe("content hash", () => {
  test("matches the spec appendix vectors", () => {
    assert.equal(encodeBase64(computeContentHash(MINIMAL_EVENT)), "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos");
    assert.equal(encodeBase64(computeContentHash(MESSAGE_EVENT)), "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g");
  });

  test("checkContentHash accepts events Synapse hashed", () => {
    assert.equal(checkContentHash(V1_EVENT), true);
    assert.equal(checkContentHash(V3_CREATE_EVENT), true);
  });

  test("does not cover unsigned, signatures or other hashes", () => {
    const changed = { ...V3_CREATE_EVENT, unsigned: { age: 1 }, signatures: {}, hashes: { sha256: (V3_CREATE_EVENT.hashes as JsonObject).sha256!, md5: "x" } };
    assert.equal(checkContentHash(changed), true);
  });

  test("checkContentHash is false when content changed or the hash is missing, padded wrong or not base64", () => {
    assert.equal(checkContentHash({ ...V3_CREATE_EVENT, content: { ...(V3_CREATE_EVENT.content as JsonObject), creator: "@evil:x" } }), false);
    assert.equal(checkContentHash({ ...V3_CREATE_EVENT, hashes: {} }), false);
    assert.equal(checkContentHash({ ...V3_CREATE_EVENT, hashes: { sha256: "!!" } }), false);
    assert.equal(checkContentHash({ ...V3_CREATE_EVENT, hashes: "IX6z" }), false);
    const { hashes: _h, ...unhashed } = V3_CREATE_EVENT;
    assert.equal(checkContentHash(unhashed), false);
  });

  test("accepts a padded hash, since decoding takes both forms", () => {
    assert.equal(checkContentHash({ ...V3_CREATE_EVENT, hashes: { sha256: "IX6zuNiJpJPNf70BLleL3HSCpjKeq9Uhu7uUpyDjBmc=" } }), true);
  });
});

describe("event IDs", () => {
  test("v1–2 use the event_id the event carries", () => {
    for (const id of ["1", "2"]) assert.equal(computeEventId(V1_EVENT, getRoomVersion(id)), "$yvN1b43rlmcOs5fY:localhost");
  });

  test("v1–2 refuse an event without a $opaque:server event_id", () => {
    for (const eventId of [undefined, "yvN1b43rlmcOs5fY:localhost", "$nodomain", "$x:", 5]) {
      const event = { ...V1_EVENT, event_id: eventId } as JsonObject;
      assert.throws(() => computeEventId(event, getRoomVersion("1")), InvalidEventError, String(eventId));
    }
  });

  test("v3 is $ + standard base64 of the reference hash, v4+ URL-safe (gomatrixserverlib vectors)", () => {
    assert.equal(computeEventId(V3_CREATE_EVENT, getRoomVersion("3")), "$RrGxF28UrHLmoASHndYb9Jb/1SFww2ptmtur9INS438");
    for (const id of ROOM_VERSION_IDS.filter((v) => Number(v) >= 4 && Number(v) <= 10)) {
      assert.equal(computeEventId(V3_CREATE_EVENT, getRoomVersion(id)), "$RrGxF28UrHLmoASHndYb9Jb_1SFww2ptmtur9INS438", id);
    }
  });

  test("v11 hashes a different redacted form (whole create content, no origin)", () => {
    assert.notEqual(computeEventId(V3_CREATE_EVENT, getRoomVersion("11")), "$RrGxF28UrHLmoASHndYb9Jb_1SFww2ptmtur9INS438");
  });

  test("the reference hash ignores signatures, unsigned and redactable content, but not the rest", () => {
    const v = getRoomVersion("10");
    const base = computeReferenceHash(MINIMAL_EVENT, v);
    const same = [
      { ...MINIMAL_EVENT, signatures: { other: { "ed25519:x": "y" } } },
      { ...MINIMAL_EVENT, unsigned: { age: 9 } },
      { ...MINIMAL_EVENT, content: { body: "anything" } },
    ];
    for (const event of same) assert.deepEqual(computeReferenceHash(event, v), base);
    assert.notDeepEqual(computeReferenceHash({ ...MINIMAL_EVENT, depth: 4 }, v), base);
    assert.notDeepEqual(computeReferenceHash({ ...MINIMAL_EVENT, hashes: { sha256: "x" } }, v), base);
  });

  test("from v3 a carried event_id does not feed its own hash", () => {
    for (const id of ["3", "4", "11", "12"]) {
      const v = getRoomVersion(id);
      assert.equal(computeEventId({ ...V3_CREATE_EVENT, event_id: "$whatever" }, v), computeEventId(V3_CREATE_EVENT, v), id);
    }
  });

  test("the reference hash is sha256 of the canonical redacted event without signatures", () => {
    const expected = createHash("sha256")
      .update('{"auth_events":[],"content":{},"depth":3,"hashes":{},"origin":"domain","origin_server_ts":1000000,"prev_events":[],"room_id":"!x:domain","sender":"@a:domain","type":"X"}')
      .digest();
    assert.deepEqual(computeReferenceHash(MINIMAL_EVENT, getRoomVersion("5")), expected);
  });
});

describe("v12 room IDs", () => {
  const create: JsonObject = {
    type: "m.room.create",
    state_key: "",
    sender: "@alice:example.org",
    content: { room_version: "12", additional_creators: ["@bob:example.com"] },
    origin_server_ts: 1700000000000,
    depth: 1,
    prev_events: [],
    auth_events: [],
    hashes: { sha256: "unchecked" },
    signatures: { "example.org": { "ed25519:1": "ignored" } },
    unsigned: { age: 1 },
  };

  test("is ! + URL-safe unpadded sha256 of the canonical redacted create event", () => {
    const canonical =
      '{"auth_events":[],"content":{"additional_creators":["@bob:example.com"],"room_version":"12"},"depth":1,"hashes":{"sha256":"unchecked"},"origin_server_ts":1700000000000,"prev_events":[],"sender":"@alice:example.org","state_key":"","type":"m.room.create"}';
    const expected = "!" + createHash("sha256").update(canonical).digest("base64url");
    assert.equal(computeRoomId(create, getRoomVersion("12")), expected);
  });

  test("equals the create event's ID with the ! sigil", () => {
    const v12 = getRoomVersion("12");
    assert.equal(computeRoomId(create, v12), "!" + computeEventId(create, v12).slice(1));
  });

  test("refuses other room versions, other event types and a create event with a room_id", () => {
    assert.throws(() => computeRoomId(create, getRoomVersion("11")), /chosen by the creating server/);
    assert.throws(() => computeRoomId({ ...create, type: "m.room.member" }, getRoomVersion("12")), /only an m.room.create/);
    assert.throws(() => computeRoomId({ ...create, room_id: "!x:y" }, getRoomVersion("12")), /has no room_id/);
  });
});
