/**
 * Power levels as the auth rules read them (spec m.room.power_levels and each room version's "Authorization
 * rules"; Synapse get_user_power_level, get_named_level, get_send_level): the room creators, a user's level,
 * the named levels and the level an event type needs, with each room version's defaults and value formats.
 */
import type { JsonValue } from "../crypto";
import type { Pdu } from "./pdu";
import type { RoomVersion } from "./room-versions";
import { CREATE_KEY, POWER_LEVELS_KEY, type StateMap } from "./state-map";

/** v12 creators outrank every integer level (MSC4289); Infinity compares that way and needs no special cases. */
export const CREATOR_POWER_LEVEL = Number.POSITIVE_INFINITY;

/** The named levels, with their defaults when the power levels event (or the whole event) leaves them out. */
export const NAMED_LEVEL_DEFAULTS = {
  users_default: 0,
  events_default: 0,
  state_default: 50,
  ban: 50,
  kick: 50,
  redact: 50,
  invite: 0,
} as const;
export type NamedLevel = keyof typeof NAMED_LEVEL_DEFAULTS;
export const NAMED_LEVELS = Object.keys(NAMED_LEVEL_DEFAULTS) as NamedLevel[];

const STRINGY_INTEGER = /^\s*[+-]?\d+\s*$/;

/**
 * A power level value as the room version reads it, or undefined when it is not a level. From v10 only integers
 * count; before, a string holding an integer does too ("v1-stringy-power-levels"), and in v1–5, whose events may
 * hold floats, a finite number is truncated ("v1-floaty-power-levels").
 */
export function parseLevel(value: JsonValue | undefined, version: RoomVersion): number | undefined {
  if (typeof value === "number") {
    if (Number.isInteger(value)) return value;
    return !version.strictCanonicalJson && Number.isFinite(value) ? Math.trunc(value) : undefined;
  }
  if (typeof value === "string" && !version.enforceIntPowerLevels && STRINGY_INTEGER.test(value)) {
    return Number.parseInt(value.trim(), 10);
  }
  return undefined;
}

function objectField(content: Pdu["content"], name: string): { [key: string]: JsonValue } | undefined {
  const value = content[name];
  return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined;
}

/** The room's creators: `content.creator` (v1–10), the create event's sender (v11), plus `additional_creators` (v12). */
export function roomCreators(createEvent: Pdu, version: RoomVersion): Set<string> {
  const creators = new Set<string>();
  if (!version.implicitRoomCreator) {
    const creator = createEvent.content.creator;
    if (typeof creator === "string") creators.add(creator);
    return creators;
  }
  if (typeof createEvent.sender === "string") creators.add(createEvent.sender);
  if (version.privilegedCreators) {
    const additional = createEvent.content.additional_creators;
    if (Array.isArray(additional)) for (const user of additional) if (typeof user === "string") creators.add(user);
  }
  return creators;
}

/**
 * The user's power level in the given auth state. v12 creators have CREATOR_POWER_LEVEL. Without a power levels
 * event, the creator has 100 and everyone else 0 (before v12 there is a single creator).
 */
export function userPowerLevel(userId: string, authState: StateMap<Pdu>, version: RoomVersion): number {
  const create = authState.get(CREATE_KEY);
  if (version.privilegedCreators && create && roomCreators(create, version).has(userId)) return CREATOR_POWER_LEVEL;
  const powerLevels = authState.get(POWER_LEVELS_KEY);
  if (powerLevels) {
    const own = parseLevel(objectField(powerLevels.content, "users")?.[userId], version);
    return own ?? parseLevel(powerLevels.content.users_default, version) ?? NAMED_LEVEL_DEFAULTS.users_default;
  }
  return create && roomCreators(create, version).has(userId) ? 100 : 0;
}

/** A named level (ban, kick, invite, ...) in the given auth state. */
export function namedPowerLevel(name: NamedLevel, authState: StateMap<Pdu>, version: RoomVersion): number {
  const powerLevels = authState.get(POWER_LEVELS_KEY);
  return (powerLevels && parseLevel(powerLevels.content[name], version)) ?? NAMED_LEVEL_DEFAULTS[name];
}

/** The spec's "required power level" to send an event of this type: `events[type]`, else state_default or events_default. */
export function requiredPowerLevel(type: string, isState: boolean, authState: StateMap<Pdu>, version: RoomVersion): number {
  const powerLevels = authState.get(POWER_LEVELS_KEY);
  const specific = powerLevels && parseLevel(objectField(powerLevels.content, "events")?.[type], version);
  return specific ?? namedPowerLevel(isState ? "state_default" : "events_default", authState, version);
}

/** The `users`, `events` or `notifications` map of a power levels content, or an empty one. */
export function levelMap(content: Pdu["content"], name: "users" | "events" | "notifications"): { [key: string]: JsonValue } {
  return objectField(content, name) ?? {};
}
