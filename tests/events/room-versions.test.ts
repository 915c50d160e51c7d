import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  getRoomVersion,
  isKnownRoomVersion,
  KNOWN_ROOM_VERSIONS,
  ROOM_VERSION_IDS,
  UnknownRoomVersionError,
  type RoomVersion,
} from "../../server/events";

/** The versions (of 1–12) for which a property holds. */
function versionsWhere(predicate: (v: RoomVersion) => boolean): string[] {
  return ROOM_VERSION_IDS.filter((id) => predicate(getRoomVersion(id)));
}
const from = (first: number) => ROOM_VERSION_IDS.filter((id) => Number(id) >= first);
const upTo = (last: number) => ROOM_VERSION_IDS.filter((id) => Number(id) <= last);

describe("room versions table", () => {
  test("knows exactly 1–12, all stable", () => {
    assert.deepEqual([...KNOWN_ROOM_VERSIONS.keys()], ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]);
    for (const v of KNOWN_ROOM_VERSIONS.values()) assert.equal(v.disposition, "stable");
  });

  test("event ID format: carried in v1–2, standard base64 hash in v3, URL-safe from v4", () => {
    assert.deepEqual(versionsWhere((v) => v.eventIdFormat === "opaque"), ["1", "2"]);
    assert.deepEqual(versionsWhere((v) => v.eventIdFormat === "reference-hash"), ["3"]);
    assert.deepEqual(versionsWhere((v) => v.eventIdFormat === "reference-hash-url-safe"), from(4));
  });

  test("room IDs are create event hashes only in v12", () => {
    assert.deepEqual(versionsWhere((v) => v.roomIdFormat === "create-event-hash"), ["12"]);
    assert.deepEqual(versionsWhere((v) => !v.createEventInAuthEvents), ["12"]);
    assert.deepEqual(versionsWhere((v) => v.privilegedCreators), ["12"]);
  });

  test("state resolution: v1 in room v1, v2 in 2–11, v2.1 in 12", () => {
    assert.deepEqual(versionsWhere((v) => v.stateResolution === "v1"), ["1"]);
    assert.deepEqual(versionsWhere((v) => v.stateResolution === "v2"), ["2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]);
    assert.deepEqual(versionsWhere((v) => v.stateResolution === "v2.1"), ["12"]);
  });

  test("features switch on where the spec introduced them", () => {
    assert.deepEqual(versionsWhere((v) => v.enforceKeyValidity), from(5));
    assert.deepEqual(versionsWhere((v) => v.strictCanonicalJson), from(6));
    assert.deepEqual(versionsWhere((v) => v.limitNotificationsPowerLevels), from(6));
    assert.deepEqual(versionsWhere((v) => v.specialCaseAliasesAuth), upTo(5));
    assert.deepEqual(versionsWhere((v) => v.specialCaseRedactionAuth), upTo(2));
    assert.deepEqual(versionsWhere((v) => v.knockJoinRule), from(7));
    assert.deepEqual(versionsWhere((v) => v.restrictedJoinRule), from(8));
    assert.deepEqual(versionsWhere((v) => v.knockRestrictedJoinRule), from(10));
    assert.deepEqual(versionsWhere((v) => v.enforceIntPowerLevels), from(10));
    assert.deepEqual(versionsWhere((v) => v.implicitRoomCreator), from(11));
    assert.deepEqual(versionsWhere((v) => v.redactsInContent), from(11));
  });

  test("redaction rules change in v6, v8, v9 and v11 only", () => {
    const r = (id: string) => getRoomVersion(id).redaction;
    assert.deepEqual(versionsWhere((v) => v.redaction.keepAliases), upTo(5));
    assert.deepEqual(versionsWhere((v) => v.redaction.keepJoinRulesAllow), from(8));
    assert.deepEqual(versionsWhere((v) => v.redaction.keepJoinAuthorisedViaUsersServer), from(9));
    for (const key of ["keepCreateContent", "keepPowerLevelsInvite", "keepThirdPartyInviteSigned", "keepRedactionRedacts"] as const) {
      assert.deepEqual(versionsWhere((v) => v.redaction[key]), from(11), key);
    }
    assert.deepEqual(versionsWhere((v) => v.redaction.keepOriginMembershipPrevState), upTo(10));
    assert.deepEqual(r("12"), r("11"));
  });

  test("the table cannot be changed by a caller", () => {
    const v = getRoomVersion("10") as { enforceIntPowerLevels: boolean; redaction: { keepAliases: boolean } };
    assert.throws(() => {
      v.enforceIntPowerLevels = false;
    }, TypeError);
    assert.throws(() => {
      v.redaction.keepAliases = true;
    }, TypeError);
  });
});

describe("getRoomVersion", () => {
  test("throws a typed error naming the unknown version", () => {
    for (const id of ["13", "0", "", "org.matrix.msc4291.11", " 1"]) {
      assert.throws(
        () => getRoomVersion(id),
        (e: unknown) => e instanceof UnknownRoomVersionError && e.roomVersion === id && e.message.includes(JSON.stringify(id)),
      );
      assert.equal(isKnownRoomVersion(id), false);
    }
    assert.equal(isKnownRoomVersion("12"), true);
  });
});
