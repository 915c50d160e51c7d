/**
 * The authorization rules of room versions 1–12 (spec server-server API "Auth events selection" and each room
 * version's "Authorization rules"; Synapse synapse/event_auth.py, gomatrixserverlib eventauth.go). Pure functions
 * of an event and the state it is checked against: the caller picks that state (the event's auth events, the
 * state before it, or the current state) and persists the verdict. Each rejection names the rule that failed.
 *
 * Not here, because they need keys or storage: verifying signatures (signing.ts), and whether an auth event or the
 * v12 create event was itself rejected (the caller knows; checkAuthEventsList takes it as a predicate).
 */
import { publicKeyFromBase64, verifyJsonSignature, type JsonObject, type JsonValue } from "../crypto";
import { eventIdOf, listedAuthEventIdsOf, prevEventIdsOf, roomIdForCreateEvent } from "./event-refs";
import { serverNameOf, type Pdu } from "./pdu";
import {
  CREATOR_POWER_LEVEL,
  levelMap,
  NAMED_LEVELS,
  namedPowerLevel,
  parseLevel,
  requiredPowerLevel,
  roomCreators,
  userPowerLevel,
} from "./power-levels";
import { isKnownRoomVersion, type RoomVersion } from "./room-versions";
import { CREATE_KEY, JOIN_RULES_KEY, memberKey, POWER_LEVELS_KEY, stateKey, stateKeyOfEvent, type StateKey, type StateMap } from "./state-map";

/** The event is not allowed by the authorization rules; the message says which rule refused it. */
export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuthError";
  }
}

function reject(message: string): never {
  throw new AuthError(message);
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function requireString(value: JsonValue | undefined, what: string): string {
  return typeof value === "string" ? value : reject(`${what} is missing or not a string`);
}

function domainOf(id: JsonValue | undefined, what: string): string {
  const value = requireString(id, what);
  try {
    return serverNameOf(value);
  } catch {
    return reject(`${what} ${JSON.stringify(value)} has no server name`);
  }
}

/** Reads prev_events/auth_events, turning a malformed list into a rejection. */
function references(read: () => string[]): string[] {
  try {
    return read();
  } catch (e) {
    return reject((e as Error).message);
  }
}

function describeLevel(level: number): string {
  return level === CREATOR_POWER_LEVEL ? "infinite (room creator)" : String(level);
}

/** A user ID as Synapse's UserID.from_string accepts it: historical rooms hold IDs the current grammar refuses. */
function isLenientUserId(value: string): boolean {
  return value.startsWith("@") && value.includes(":");
}

const LOCALPART = /^[\u0021-\u0039\u003b-\u007e]+$/;
const SERVER_NAME = /^(\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z.-]+)(:\d{1,5})?$/;

/** A user ID under the spec's grammar (historical localparts allowed), for the v12 `additional_creators` check. */
function isValidUserId(value: string): boolean {
  if (Buffer.byteLength(value, "utf8") > 255 || !value.startsWith("@")) return false;
  const colon = value.indexOf(":");
  if (colon < 2) return false;
  return LOCALPART.test(value.slice(1, colon)) && SERVER_NAME.test(value.slice(colon + 1));
}

/**
 * The (type, state_key) pairs whose current values are this event's auth events (spec "Auth events selection").
 * From v12 the create event is never selected: the room ID names it.
 */
export function authTypesForEvent(event: Pdu, version: RoomVersion): Array<[string, string]> {
  if (event.type === "m.room.create") return [];
  const selected = new Map<StateKey, [string, string]>();
  const add = (type: string, key: string) => selected.set(stateKey(type, key), [type, key]);
  if (version.createEventInAuthEvents) add("m.room.create", "");
  add("m.room.power_levels", "");
  if (typeof event.sender === "string") add("m.room.member", event.sender);
  if (event.type === "m.room.member" && typeof event.state_key === "string") {
    const { membership } = event.content;
    if (membership === "join" || membership === "invite" || membership === "knock") add("m.room.join_rules", "");
    add("m.room.member", event.state_key);
    const invite = event.content.third_party_invite;
    const token = isObject(invite) && isObject(invite.signed) ? invite.signed.token : undefined;
    if (membership === "invite" && typeof token === "string") add("m.room.third_party_invite", token);
    const authoriser = event.content.join_authorised_via_users_server;
    if (version.restrictedJoinRule && membership === "join" && typeof authoriser === "string") add("m.room.member", authoriser);
  }
  return [...selected.values()];
}

/**
 * The spec's step "considering the event's auth_events": no (type, state_key) twice, only pairs the auth events
 * selection allows, none rejected, all from the same room, and (v1–11) the create event among them.
 * `authEvents` are the events the event's `auth_events` names, one each, in any order; `isRejected` says whether
 * one was itself rejected.
 */
export function checkAuthEventsList(
  event: Pdu,
  authEvents: Pdu[],
  version: RoomVersion,
  isRejected: (authEvent: Pdu) => boolean = () => false,
): void {
  // A create event is decided by its own rule alone.
  if (event.type === "m.room.create") return;
  const listed = references(() => listedAuthEventIdsOf(event, version));
  if (new Set(listed).size !== listed.length) reject("auth_events names the same event twice");
  if (authEvents.length !== listed.length) {
    throw new Error(`auth_events names ${listed.length} events but ${authEvents.length} were given to check`);
  }
  const allowed = new Set(authTypesForEvent(event, version).map(([type, key]) => stateKey(type, key)));
  const seen = new Set<StateKey>();
  for (const authEvent of authEvents) {
    const key = stateKeyOfEvent(authEvent);
    const label = `${authEvent.type} (${JSON.stringify(authEvent.state_key)})`;
    if (key === undefined) reject(`auth event ${authEvent.type} is not a state event`);
    if (seen.has(key)) reject(`auth_events has two events for ${label}`);
    seen.add(key);
    if (!allowed.has(key)) reject(`auth_events has ${label}, which the auth events selection does not pick for this event`);
    if (isRejected(authEvent)) reject(`auth event ${label} was itself rejected`);
    if (authEvent.room_id !== event.room_id) reject(`auth event ${label} belongs to room ${String(authEvent.room_id)}`);
  }
  if (version.createEventInAuthEvents && !seen.has(CREATE_KEY)) reject("auth_events has no m.room.create event");
}

/**
 * The spec's "Authorization rules" for the event's room version, checked against `authState` (keyed by StateKey;
 * only the entries the rules read are looked at, so a whole room state will do). The create event must be in it
 * in every version; in v12 it must be the one the room ID names. Throws AuthError.
 */
export function checkAuthRules(event: Pdu, authState: StateMap<Pdu>, version: RoomVersion): void {
  if (event.type === "m.room.create") return checkCreate(event, version);
  const sender = requireString(event.sender, "sender");
  const create = roomCreateEvent(event, authState, version);

  if (create.content["m.federate"] === false && domainOf(sender, "sender") !== domainOf(create.sender, "the create event's sender")) {
    reject(`the room does not federate (m.federate is false) and ${sender} is not on the creator's server`);
  }
  if (version.specialCaseAliasesAuth && event.type === "m.room.aliases") return checkAliases(event, sender);
  if (event.type === "m.room.member") return checkMembership(event, sender, create, authState, version);

  if (membershipOf(sender, authState) !== "join") reject(`${sender} is not joined to the room`);
  const senderLevel = userPowerLevel(sender, authState, version);
  if (event.type === "m.room.third_party_invite") {
    const inviteLevel = namedPowerLevel("invite", authState, version);
    if (senderLevel < inviteLevel) reject(`${sender} has power level ${describeLevel(senderLevel)} but inviting needs ${inviteLevel}`);
    return;
  }
  const stateKeyValue = typeof event.state_key === "string" ? event.state_key : undefined;
  const needed = requiredPowerLevel(event.type, stateKeyValue !== undefined, authState, version);
  if (senderLevel < needed) reject(`${sender} has power level ${describeLevel(senderLevel)} but sending ${event.type} needs ${needed}`);
  if (stateKeyValue?.startsWith("@") && stateKeyValue !== sender) {
    reject(`state_key ${stateKeyValue} starts with @ and is not the sender ${sender}`);
  }
  if (event.type === "m.room.power_levels") checkPowerLevels(event, sender, senderLevel, create, authState, version);
  if (version.specialCaseRedactionAuth && event.type === "m.room.redaction") checkRedaction(event, senderLevel, authState, version);
}

function checkCreate(event: Pdu, version: RoomVersion): void {
  if (references(() => prevEventIdsOf(event, version)).length > 0) reject("the create event has prev_events");
  const sender = requireString(event.sender, "sender");
  if (version.roomIdFormat === "create-event-hash") {
    if (event.room_id !== undefined) reject(`a room version ${version.id} create event has no room_id: its hash is the room ID`);
  } else if (domainOf(event.room_id, "room_id") !== domainOf(sender, "sender")) {
    reject(`the room ID ${String(event.room_id)} is not on the server of the creator ${sender}`);
  }
  const roomVersion = event.content.room_version;
  if (roomVersion !== undefined && (typeof roomVersion !== "string" || !isKnownRoomVersion(roomVersion))) {
    reject(`the create event names an unknown room version ${JSON.stringify(roomVersion)}`);
  }
  if (!version.implicitRoomCreator && !("creator" in event.content)) reject("the create event has no content.creator");
  if (version.privilegedCreators && event.content.additional_creators !== undefined) {
    const additional = event.content.additional_creators;
    if (!Array.isArray(additional) || !additional.every((user) => typeof user === "string" && isValidUserId(user))) {
      reject("content.additional_creators is not a list of valid user IDs");
    }
  }
}

/** The create event the rules use: present in every version, and in v12 the one whose hash is the room ID. */
function roomCreateEvent(event: Pdu, authState: StateMap<Pdu>, version: RoomVersion): Pdu {
  const create = authState.get(CREATE_KEY) ?? reject("there is no m.room.create event in the auth state");
  const roomId = requireString(event.room_id, "room_id");
  if (version.roomIdFormat === "create-event-hash") {
    if (roomIdForCreateEvent(eventIdOf(create, version)) !== roomId) reject(`the room ID ${roomId} is not the hash of the create event`);
  } else if (create.room_id !== roomId) {
    reject(`the create event belongs to room ${String(create.room_id)}, not ${roomId}`);
  }
  return create;
}

function membershipOf(userId: string, authState: StateMap<Pdu>): string | undefined {
  const membership = authState.get(memberKey(userId))?.content.membership;
  return typeof membership === "string" ? membership : undefined;
}

function joinRuleOf(authState: StateMap<Pdu>): string {
  const rule = authState.get(JOIN_RULES_KEY)?.content.join_rule;
  return typeof rule === "string" ? rule : "invite";
}

function checkAliases(event: Pdu, sender: string): void {
  if (typeof event.state_key !== "string" || event.state_key === "") reject("m.room.aliases needs a state_key naming a server");
  if (event.state_key !== domainOf(sender, "sender")) reject(`m.room.aliases state_key ${event.state_key} is not the sender's server`);
}

interface MembershipContext {
  event: Pdu;
  sender: string;
  target: string;
  create: Pdu;
  authState: StateMap<Pdu>;
  version: RoomVersion;
  senderMembership: string | undefined;
  targetMembership: string | undefined;
  joinRule: string;
}

function checkMembership(event: Pdu, sender: string, create: Pdu, authState: StateMap<Pdu>, version: RoomVersion): void {
  const target = requireString(event.state_key, "state_key of m.room.member");
  const membership = requireString(event.content.membership, "content.membership");
  if (version.restrictedJoinRule && membership === "join" && "join_authorised_via_users_server" in event.content) {
    // Only the presence of the signature is checked here; verifyEventSignatures checks that it is valid.
    const server = domainOf(event.content.join_authorised_via_users_server, "join_authorised_via_users_server");
    if (!event.signatures?.[server]) reject(`the join is not signed by ${server}, the server of join_authorised_via_users_server`);
  }
  const context: MembershipContext = {
    event,
    sender,
    target,
    create,
    authState,
    version,
    senderMembership: membershipOf(sender, authState),
    targetMembership: membershipOf(target, authState),
    joinRule: joinRuleOf(authState),
  };
  switch (membership) {
    case "join":
      return checkJoin(context);
    case "invite":
      return "third_party_invite" in event.content ? checkThirdPartyInvite(context) : checkInvite(context);
    case "leave":
      return checkLeave(context);
    case "ban":
      return checkBan(context);
    case "knock":
      if (version.knockJoinRule) return checkKnock(context);
  }
  reject(`unknown membership ${JSON.stringify(membership)} in room version ${version.id}`);
}

function checkJoin(c: MembershipContext): void {
  const prev = references(() => prevEventIdsOf(c.event, c.version));
  const creator = c.version.implicitRoomCreator ? c.create.sender : c.create.content.creator;
  // The creator's own first join, which has nothing else to rest on.
  if (prev.length === 1 && prev[0] === eventIdOf(c.create, c.version) && creator === c.target) return;
  if (c.sender !== c.target) reject(`${c.sender} cannot join on behalf of ${c.target}`);
  if (c.targetMembership === "ban") reject(`${c.sender} is banned from the room`);
  const isInvited = c.targetMembership === "invite" || c.targetMembership === "join";
  if (c.joinRule === "invite" || (c.version.knockJoinRule && c.joinRule === "knock")) {
    if (!isInvited) reject(`the join rule is ${c.joinRule} and ${c.sender} is not invited`);
    return;
  }
  const restricted =
    (c.version.restrictedJoinRule && c.joinRule === "restricted") ||
    (c.version.knockRestrictedJoinRule && c.joinRule === "knock_restricted");
  if (restricted) {
    if (isInvited) return;
    const authoriser = c.event.content.join_authorised_via_users_server;
    if (typeof authoriser !== "string") reject(`the join rule is ${c.joinRule} and the join has no join_authorised_via_users_server`);
    if (membershipOf(authoriser, c.authState) !== "join") reject(`the authorising user ${authoriser} is not joined to the room`);
    const authoriserLevel = userPowerLevel(authoriser, c.authState, c.version);
    const inviteLevel = namedPowerLevel("invite", c.authState, c.version);
    if (authoriserLevel < inviteLevel) {
      reject(`the authorising user ${authoriser} has power level ${describeLevel(authoriserLevel)} but inviting needs ${inviteLevel}`);
    }
    return;
  }
  if (c.joinRule !== "public") reject(`the join rule ${JSON.stringify(c.joinRule)} does not let ${c.sender} join`);
}

function checkInvite(c: MembershipContext): void {
  if (c.senderMembership !== "join") reject(`${c.sender} is not joined to the room, so cannot invite`);
  if (c.targetMembership === "join") reject(`${c.target} is already joined to the room`);
  if (c.targetMembership === "ban") reject(`${c.target} is banned from the room`);
  const senderLevel = userPowerLevel(c.sender, c.authState, c.version);
  const inviteLevel = namedPowerLevel("invite", c.authState, c.version);
  if (senderLevel < inviteLevel) reject(`${c.sender} has power level ${describeLevel(senderLevel)} but inviting needs ${inviteLevel}`);
}

function checkThirdPartyInvite(c: MembershipContext): void {
  if (c.targetMembership === "ban") reject(`${c.target} is banned from the room`);
  const invite = c.event.content.third_party_invite;
  const signed = isObject(invite) ? invite.signed : undefined;
  if (!isObject(signed)) reject("third_party_invite has no signed object");
  const { mxid, token } = signed;
  if (typeof mxid !== "string" || typeof token !== "string") reject("third_party_invite.signed lacks mxid or token");
  if (mxid !== c.target) reject(`third_party_invite.signed.mxid ${mxid} is not the invited user ${c.target}`);
  const inviteEvent = c.authState.get(stateKey("m.room.third_party_invite", token));
  if (!inviteEvent) reject(`there is no m.room.third_party_invite event for token ${JSON.stringify(token)}`);
  if (inviteEvent.sender !== c.sender) reject(`the third-party invite was made by ${String(inviteEvent.sender)}, not ${c.sender}`);
  if (!thirdPartyInviteSignatureMatches(signed, inviteEvent)) {
    reject("no signature in third_party_invite.signed matches a public key of the m.room.third_party_invite event");
  }
}

/** Whether any ed25519 signature in `signed` verifies with any key of the invite (`public_key` and `public_keys`). */
function thirdPartyInviteSignatureMatches(signed: JsonObject, inviteEvent: Pdu): boolean {
  const keys: string[] = [];
  if (typeof inviteEvent.content.public_key === "string") keys.push(inviteEvent.content.public_key);
  const listed = inviteEvent.content.public_keys;
  if (Array.isArray(listed)) {
    for (const entry of listed) if (isObject(entry) && typeof entry.public_key === "string") keys.push(entry.public_key);
  }
  const signatures = signed.signatures;
  if (!isObject(signatures)) return false;
  for (const [server, byKey] of Object.entries(signatures)) {
    if (!isObject(byKey)) continue;
    for (const keyId of Object.keys(byKey).filter((id) => id.startsWith("ed25519:"))) {
      for (const key of keys) {
        let publicKey;
        try {
          publicKey = publicKeyFromBase64(key);
        } catch {
          continue;
        }
        if (verifyJsonSignature(signed, server, keyId, publicKey).ok) return true;
      }
    }
  }
  return false;
}

function checkLeave(c: MembershipContext): void {
  if (c.sender === c.target) {
    const canLeave =
      c.senderMembership === "join" || c.senderMembership === "invite" || (c.version.knockJoinRule && c.senderMembership === "knock");
    if (!canLeave) reject(`${c.sender} cannot leave: their membership is ${c.senderMembership ?? "none"}`);
    return;
  }
  if (c.senderMembership !== "join") reject(`${c.sender} is not joined to the room, so cannot kick or unban`);
  const senderLevel = userPowerLevel(c.sender, c.authState, c.version);
  const targetLevel = userPowerLevel(c.target, c.authState, c.version);
  const banLevel = namedPowerLevel("ban", c.authState, c.version);
  if (c.targetMembership === "ban" && senderLevel < banLevel) {
    reject(`${c.sender} has power level ${describeLevel(senderLevel)} but unbanning needs ${banLevel}`);
  }
  const kickLevel = namedPowerLevel("kick", c.authState, c.version);
  if (senderLevel < kickLevel) reject(`${c.sender} has power level ${describeLevel(senderLevel)} but kicking needs ${kickLevel}`);
  if (targetLevel >= senderLevel) {
    reject(`${c.sender} (power level ${describeLevel(senderLevel)}) cannot kick ${c.target} (power level ${describeLevel(targetLevel)})`);
  }
}

function checkBan(c: MembershipContext): void {
  if (c.senderMembership !== "join") reject(`${c.sender} is not joined to the room, so cannot ban`);
  const senderLevel = userPowerLevel(c.sender, c.authState, c.version);
  const targetLevel = userPowerLevel(c.target, c.authState, c.version);
  const banLevel = namedPowerLevel("ban", c.authState, c.version);
  if (senderLevel < banLevel) reject(`${c.sender} has power level ${describeLevel(senderLevel)} but banning needs ${banLevel}`);
  if (targetLevel >= senderLevel) {
    reject(`${c.sender} (power level ${describeLevel(senderLevel)}) cannot ban ${c.target} (power level ${describeLevel(targetLevel)})`);
  }
}

function checkKnock(c: MembershipContext): void {
  const knockable = c.joinRule === "knock" || (c.version.knockRestrictedJoinRule && c.joinRule === "knock_restricted");
  if (!knockable) reject(`the join rule ${JSON.stringify(c.joinRule)} does not allow knocking`);
  if (c.sender !== c.target) reject(`${c.sender} cannot knock on behalf of ${c.target}`);
  if (c.senderMembership === "ban" || c.senderMembership === "invite" || c.senderMembership === "join") {
    reject(`${c.sender} cannot knock: their membership is ${c.senderMembership}`);
  }
}

/** A level in a power levels event that the rules must read: present and not a level is a rejection. */
function readLevel(value: JsonValue | undefined, label: string, version: RoomVersion): number | undefined {
  if (value === undefined) return undefined;
  return parseLevel(value, version) ?? reject(`power level ${label} is not an integer: ${JSON.stringify(value)}`);
}

function validatePowerLevels(event: Pdu, create: Pdu, version: RoomVersion): void {
  const { content } = event;
  if (content.users !== undefined && !isObject(content.users)) reject("power levels users is not an object");
  for (const [user, level] of Object.entries(levelMap(content, "users"))) {
    if (!isLenientUserId(user)) reject(`power levels users has ${JSON.stringify(user)}, which is not a user ID`);
    readLevel(level, `users[${user}]`, version);
  }
  if (version.enforceIntPowerLevels) {
    for (const name of NAMED_LEVELS) readLevel(content[name], name, version);
    for (const mapName of ["events", "notifications"] as const) {
      if (content[mapName] !== undefined && !isObject(content[mapName])) reject(`power levels ${mapName} is not an object`);
      for (const [key, level] of Object.entries(levelMap(content, mapName))) readLevel(level, `${mapName}[${key}]`, version);
    }
  }
  if (version.privilegedCreators) {
    for (const creator of roomCreators(create, version)) {
      if (creator in levelMap(content, "users")) reject(`power levels users lists the room creator ${creator}, whose power is fixed`);
    }
  }
}

function checkPowerLevels(event: Pdu, sender: string, senderLevel: number, create: Pdu, authState: StateMap<Pdu>, version: RoomVersion): void {
  validatePowerLevels(event, create, version);
  const previous = authState.get(POWER_LEVELS_KEY);
  if (!previous) return;
  const level = describeLevel(senderLevel);

  for (const name of NAMED_LEVELS) {
    const before = readLevel(previous.content[name], name, version);
    const after = readLevel(event.content[name], name, version);
    if (before === after) continue;
    if (before !== undefined && before > senderLevel) reject(`${sender} (power level ${level}) cannot change ${name} from ${before}`);
    if (after !== undefined && after > senderLevel) reject(`${sender} (power level ${level}) cannot set ${name} to ${after}`);
  }

  const maps = version.limitNotificationsPowerLevels ? (["events", "notifications"] as const) : (["events"] as const);
  for (const mapName of maps) {
    const beforeMap = levelMap(previous.content, mapName);
    const afterMap = levelMap(event.content, mapName);
    for (const key of new Set([...Object.keys(beforeMap), ...Object.keys(afterMap)])) {
      const before = readLevel(beforeMap[key], `${mapName}[${key}]`, version);
      const after = readLevel(afterMap[key], `${mapName}[${key}]`, version);
      if (before === after) continue;
      if (before !== undefined && before > senderLevel) reject(`${sender} (power level ${level}) cannot change ${mapName}[${key}] from ${before}`);
      if (after !== undefined && after > senderLevel) reject(`${sender} (power level ${level}) cannot set ${mapName}[${key}] to ${after}`);
    }
  }

  const beforeUsers = levelMap(previous.content, "users");
  const afterUsers = levelMap(event.content, "users");
  for (const user of new Set([...Object.keys(beforeUsers), ...Object.keys(afterUsers)])) {
    const before = readLevel(beforeUsers[user], `users[${user}]`, version);
    const after = readLevel(afterUsers[user], `users[${user}]`, version);
    if (before === after) continue;
    if (before !== undefined && user !== sender && before >= senderLevel) {
      reject(`${sender} (power level ${level}) cannot change the level of ${user}, who has ${before}`);
    }
    if (after !== undefined && after > senderLevel) reject(`${sender} (power level ${level}) cannot give ${user} power level ${after}`);
  }
}

/** v1–2 only: a redaction needs the redact level, or to target an event from the redacting event's own server. */
function checkRedaction(event: Pdu, senderLevel: number, authState: StateMap<Pdu>, version: RoomVersion): void {
  if (senderLevel >= namedPowerLevel("redact", authState, version)) return;
  if (domainOf(event.redacts, "redacts") === domainOf(event.event_id, "event_id")) return;
  reject(`${String(event.sender)} has power level ${describeLevel(senderLevel)}, below the redact level, and ${String(event.redacts)} is from another server`);
}
