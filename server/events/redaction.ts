/**
 * The redaction algorithm (spec, each room version's "Redactions" section; Synapse prune_event_dict). The
 * redacted form is what reference hashes and event signatures cover, so it must match other servers byte for
 * byte: keep exactly the keys the room version lists, nothing else, not even `unsigned`.
 */
import type { JsonObject, JsonValue } from "../crypto";
import { parsePdu, type Pdu } from "./pdu";
import type { RoomVersion } from "./room-versions";

const TOP_LEVEL_KEYS = [
  "event_id",
  "type",
  "room_id",
  "sender",
  "state_key",
  "content",
  "hashes",
  "signatures",
  "depth",
  "prev_events",
  "auth_events",
  "origin_server_ts",
];
const PRE_V11_TOP_LEVEL_KEYS = [...TOP_LEVEL_KEYS, "prev_state", "origin", "membership"];

const POWER_LEVELS_KEYS = ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"];

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function pick(content: JsonObject, keys: readonly string[]): JsonObject {
  const kept: JsonObject = {};
  for (const key of keys) {
    const value = content[key];
    if (value !== undefined) kept[key] = value;
  }
  return kept;
}

function redactContent(type: string, content: JsonObject, version: RoomVersion): JsonObject {
  const rules = version.redaction;
  switch (type) {
    case "m.room.member": {
      const kept = pick(content, rules.keepJoinAuthorisedViaUsersServer ? ["membership", "join_authorised_via_users_server"] : ["membership"]);
      const invite = content.third_party_invite;
      // Synapse and Ruma keep `third_party_invite` (possibly empty) whenever it is an object; match them.
      if (rules.keepThirdPartyInviteSigned && isObject(invite)) kept.third_party_invite = pick(invite, ["signed"]);
      return kept;
    }
    case "m.room.create":
      if (rules.keepCreateContent) return content;
      // From v11 the creator is the sender; before, `creator` is what the auth rules read.
      return pick(content, ["creator"]);
    case "m.room.join_rules":
      return pick(content, rules.keepJoinRulesAllow ? ["join_rule", "allow"] : ["join_rule"]);
    case "m.room.power_levels":
      return pick(content, rules.keepPowerLevelsInvite ? [...POWER_LEVELS_KEYS, "invite"] : POWER_LEVELS_KEYS);
    case "m.room.aliases":
      return rules.keepAliases ? pick(content, ["aliases"]) : {};
    case "m.room.history_visibility":
      return pick(content, ["history_visibility"]);
    case "m.room.redaction":
      return rules.keepRedactionRedacts ? pick(content, ["redacts"]) : {};
    default:
      return {};
  }
}

/**
 * The redacted form of a parsed event under `version`'s rules: a new top-level object whose values are shared with
 * `pdu`, for hashing and signing without the cost of a deep copy. Use redactEvent for an event to keep or change.
 */
export function pruneEvent(pdu: Pdu, version: RoomVersion): Pdu {
  const redacted = pick(pdu, version.redaction.keepOriginMembershipPrevState ? PRE_V11_TOP_LEVEL_KEYS : TOP_LEVEL_KEYS);
  redacted.content = redactContent(pdu.type, pdu.content, version);
  return redacted as Pdu;
}

/** The redacted copy of `event` under `version`'s rules. Throws InvalidEventError if `type` or `content` is malformed. */
export function redactEvent(event: JsonObject, version: RoomVersion): Pdu {
  // A deep copy, so that callers may change the result without touching the original event.
  return structuredClone(pruneEvent(parsePdu(event), version));
}
