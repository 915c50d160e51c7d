/**
 * Room versions 1–12 (spec "Room Versions"; Synapse synapse/api/room_versions.py, Ruma room_version_rules.rs):
 * what each version changes in event format, redaction, signing and authorization. Every algorithm that
 * depends on the room version reads it from here rather than comparing version strings.
 */

export const ROOM_VERSION_IDS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"] as const;
export type RoomVersionId = (typeof ROOM_VERSION_IDS)[number];

/**
 * - `opaque`: `$opaque:server`, chosen by the sending server and carried in the event (v1–2).
 * - `reference-hash`: `$` + standard unpadded base64 of the reference hash, derived, not carried (v3).
 * - `reference-hash-url-safe`: the same with the URL-safe alphabet (v4+).
 */
export type EventIdFormat = "opaque" | "reference-hash" | "reference-hash-url-safe";

/**
 * - `opaque`: `!opaque:server` (v1–11).
 * - `create-event-hash`: `!` + URL-safe unpadded reference hash of the m.room.create event, which itself
 *   carries no room_id (v12, MSC4291).
 */
export type RoomIdFormat = "opaque" | "create-event-hash";

/** `v2.1` is v2 starting from an empty state map and adding the conflicted state subgraph (v12, MSC4297). */
export type StateResolutionVersion = "v1" | "v2" | "v2.1";

/** Which keys the redaction algorithm keeps beyond those every version keeps. */
export interface RedactionRules {
  /** top-level `origin`, `membership`, `prev_state` (dropped from v11) */
  readonly keepOriginMembershipPrevState: boolean;
  /** m.room.aliases `aliases` (dropped from v6, MSC2432) */
  readonly keepAliases: boolean;
  /** m.room.join_rules `allow` (v8+) */
  readonly keepJoinRulesAllow: boolean;
  /** m.room.member `join_authorised_via_users_server` (v9+) */
  readonly keepJoinAuthorisedViaUsersServer: boolean;
  /** m.room.create keeps its whole content instead of only `creator` (v11+) */
  readonly keepCreateContent: boolean;
  /** m.room.power_levels `invite` (v11+) */
  readonly keepPowerLevelsInvite: boolean;
  /** m.room.member `third_party_invite.signed` (v11+) */
  readonly keepThirdPartyInviteSigned: boolean;
  /** m.room.redaction `redacts` in content (v11+) */
  readonly keepRedactionRedacts: boolean;
}

export interface RoomVersion {
  readonly id: RoomVersionId;
  readonly disposition: "stable";
  readonly eventIdFormat: EventIdFormat;
  readonly roomIdFormat: RoomIdFormat;
  readonly stateResolution: StateResolutionVersion;
  /** v5+: a signing key must be valid at the event's origin_server_ts */
  readonly enforceKeyValidity: boolean;
  /** v6+: floats and integers beyond ±(2^53−1) make an event invalid */
  readonly strictCanonicalJson: boolean;
  /** v1–2: m.room.redaction has its own auth rule (same domain or redact level); v3+ checks on display */
  readonly specialCaseRedactionAuth: boolean;
  /** v1–5: m.room.aliases has special auth rules */
  readonly specialCaseAliasesAuth: boolean;
  /** v6+: power levels auth also checks `notifications` (MSC2209) */
  readonly limitNotificationsPowerLevels: boolean;
  /** v7+: `knock` membership and join rule */
  readonly knockJoinRule: boolean;
  /** v8+: `restricted` join rule and `join_authorised_via_users_server` (whose server must sign the join) */
  readonly restrictedJoinRule: boolean;
  /** v10+: `knock_restricted` join rule */
  readonly knockRestrictedJoinRule: boolean;
  /** v10+: power level values must be integers, not strings */
  readonly enforceIntPowerLevels: boolean;
  /** v11+: the creator is the create event's `sender`; content `creator` is gone */
  readonly implicitRoomCreator: boolean;
  /** v11+: m.room.redaction names its target in `content.redacts` instead of top-level `redacts` */
  readonly redactsInContent: boolean;
  /** v12+: the create event's sender and `additional_creators` have infinite power (MSC4289) */
  readonly privilegedCreators: boolean;
  /** v1–11: the create event is cited in auth_events; v12 implies it through the room ID (MSC4291) */
  readonly createEventInAuthEvents: boolean;
  readonly redaction: RedactionRules;
}

const V1: RoomVersion = {
  id: "1",
  disposition: "stable",
  eventIdFormat: "opaque",
  roomIdFormat: "opaque",
  stateResolution: "v1",
  enforceKeyValidity: false,
  strictCanonicalJson: false,
  specialCaseRedactionAuth: true,
  specialCaseAliasesAuth: true,
  limitNotificationsPowerLevels: false,
  knockJoinRule: false,
  restrictedJoinRule: false,
  knockRestrictedJoinRule: false,
  enforceIntPowerLevels: false,
  implicitRoomCreator: false,
  redactsInContent: false,
  privilegedCreators: false,
  createEventInAuthEvents: true,
  redaction: {
    keepOriginMembershipPrevState: true,
    keepAliases: true,
    keepJoinRulesAllow: false,
    keepJoinAuthorisedViaUsersServer: false,
    keepCreateContent: false,
    keepPowerLevelsInvite: false,
    keepThirdPartyInviteSigned: false,
    keepRedactionRedacts: false,
  },
};
const V2: RoomVersion = { ...V1, id: "2", stateResolution: "v2" };
const V3: RoomVersion = { ...V2, id: "3", eventIdFormat: "reference-hash", specialCaseRedactionAuth: false };
const V4: RoomVersion = { ...V3, id: "4", eventIdFormat: "reference-hash-url-safe" };
const V5: RoomVersion = { ...V4, id: "5", enforceKeyValidity: true };
const V6: RoomVersion = {
  ...V5,
  id: "6",
  strictCanonicalJson: true,
  specialCaseAliasesAuth: false,
  limitNotificationsPowerLevels: true,
  redaction: { ...V5.redaction, keepAliases: false },
};
const V7: RoomVersion = { ...V6, id: "7", knockJoinRule: true };
const V8: RoomVersion = {
  ...V7,
  id: "8",
  restrictedJoinRule: true,
  redaction: { ...V7.redaction, keepJoinRulesAllow: true },
};
const V9: RoomVersion = { ...V8, id: "9", redaction: { ...V8.redaction, keepJoinAuthorisedViaUsersServer: true } };
const V10: RoomVersion = { ...V9, id: "10", knockRestrictedJoinRule: true, enforceIntPowerLevels: true };
const V11: RoomVersion = {
  ...V10,
  id: "11",
  implicitRoomCreator: true,
  redactsInContent: true,
  redaction: {
    ...V10.redaction,
    keepOriginMembershipPrevState: false,
    keepCreateContent: true,
    keepPowerLevelsInvite: true,
    keepThirdPartyInviteSigned: true,
    keepRedactionRedacts: true,
  },
};
const V12: RoomVersion = {
  ...V11,
  id: "12",
  roomIdFormat: "create-event-hash",
  stateResolution: "v2.1",
  privilegedCreators: true,
  createEventInAuthEvents: false,
};

function freeze(version: RoomVersion): RoomVersion {
  Object.freeze(version.redaction);
  return Object.freeze(version);
}

export const KNOWN_ROOM_VERSIONS: ReadonlyMap<string, RoomVersion> = new Map(
  [V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12].map((v) => [v.id, freeze(v)]),
);

/** Thrown for a version this server does not implement; callers map it to M_UNSUPPORTED_ROOM_VERSION or M_INCOMPATIBLE_ROOM_VERSION. */
export class UnknownRoomVersionError extends Error {
  constructor(readonly roomVersion: string) {
    super(`unknown room version ${JSON.stringify(roomVersion)}; known: ${ROOM_VERSION_IDS.join(", ")}`);
    this.name = "UnknownRoomVersionError";
  }
}

export function isKnownRoomVersion(id: string): id is RoomVersionId {
  return KNOWN_ROOM_VERSIONS.has(id);
}

export function getRoomVersion(id: string): RoomVersion {
  const version = KNOWN_ROOM_VERSIONS.get(id);
  if (!version) throw new UnknownRoomVersionError(id);
  return version;
}
