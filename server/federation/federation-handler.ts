/**
 * FederationHandler (Synapse synapse/handlers/federation.py): the membership handshakes, from both ends. As the
 * resident server we hand out make_join/make_leave/make_knock templates built on our forward extremities and
 * take the signed events back through send_join/send_leave/send_knock, countersign invites for our users
 * (invite v1 for room versions 1–2, v2 otherwise). As the joining server we run the same handshakes against
 * the servers we are given, trying each in turn, and invite remote users.
 */
import { z } from "zod";
import type { JsonObject, SigningKey } from "../crypto";
import {
  authEventIdsOf, checkContentHash, computeEventId, CREATE_KEY, eventIdOf, finishEvent, getRoomVersion, isKnownRoomVersion,
  JOIN_RULES_KEY, memberKey, namedPowerLevel, parsePdu, parseStateKey, POWER_LEVELS_KEY, serverNameOf, signEvent,
  signNewEvent, toPduJson, userPowerLevel,
  type Pdu, type RoomVersion, type StateMap,
} from "../events";
import { MatrixError, badJson, forbidden, notFound } from "../http/matrix-error";
import type { Keyring } from "../keys/keyring";
import type { EventCreationHandler, PreparedEvent } from "../rooms/event-creation";
import type { EventPersister, PersistedEvent } from "../rooms/event-persister";
import type { StateHandler } from "../rooms/state-handler";
import type { EventStore } from "../store/event-store";
import type { RoomStore } from "../store/room-store";
import type { StateStore } from "../store/state-store";
import type { UserStore } from "../store/user-store";
import type { Linearizer } from "../util/linearizer";
import type { FederationClient, Membership } from "./client";
import { checkPdu } from "./event-checks";
import type { FederationEventHandler } from "./event-handler";

/** The state other servers may see of a room they are invited to or knock on (spec "stripped state"). */
const STRIPPED_STATE_TYPES = ["m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar", "m.room.canonical_alias", "m.room.encryption", "m.room.topic"];

const inviteV2Schema = z.object({
  event: z.record(z.string(), z.unknown()),
  room_version: z.string(),
  invite_room_state: z.array(z.unknown()).optional(),
}).loose();

export interface FederationHandlerOptions {
  serverName: string;
  signingKey: SigningKey;
  keyring: Keyring;
  users: UserStore;
  rooms: RoomStore;
  events: EventStore;
  state: StateStore;
  stateHandler: StateHandler;
  persister: EventPersister;
  eventCreation: EventCreationHandler;
  eventHandler: FederationEventHandler;
  client: FederationClient;
  roomLocks: Linearizer;
  now?: () => number;
}

export interface SendJoinResponse {
  origin: string;
  state: Pdu[];
  auth_chain: Pdu[];
  event?: Pdu;
  members_omitted: boolean;
  servers_in_room: string[];
}

export class FederationHandler {
  private readonly now: () => number;

  constructor(private readonly o: FederationHandlerOptions) {
    this.now = o.now ?? Date.now;
  }

  // ---- resident side --------------------------------------------------------------------------------------

  /** make_join / make_leave / make_knock: a template of the user's membership event, if the rules would allow it. */
  async onMakeMembership(origin: string, roomId: string, userId: string, membership: Membership, supportedVersions?: string[]): Promise<{ event: JsonObject; room_version: string }> {
    const version = await this.o.eventCreation.roomVersion(roomId);
    // Spec: a server that lists no versions supports only version 1.
    if (supportedVersions !== undefined && !(supportedVersions.length > 0 ? supportedVersions : ["1"]).includes(version.id)) {
      throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `Your homeserver does not support the features required to ${membership} this room`, { room_version: version.id });
    }
    if (serverNameOf(userId) !== origin) throw forbidden(`${userId} is not a user of ${origin}`);
    if (!(await this.o.state.currentJoinedHosts(roomId)).has(this.o.serverName)) throw notFound(`This server is not in room ${roomId}`);
    const content: JsonObject = { membership };
    if (membership === "join") {
      // Decided before building: the authorising member's own membership is then among the auth events.
      const authoriser = await this.restrictedJoinAuthoriser(userId, version, await this.o.state.getCurrentState(roomId));
      if (authoriser !== undefined) content.join_authorised_via_users_server = authoriser;
    }
    const { event, context } = await this.o.eventCreation.buildUnsigned(roomId, { type: "m.room.member", sender: userId, stateKey: userId, content });
    // The rules look for the authorising server's signature, which it adds at send_join: count it as present.
    const asChecked = { ...parsePdu(event), signatures: { [this.o.serverName]: {} } };
    const rejection = await this.o.stateHandler.rejectionByState(asChecked, version, context.stateBefore);
    if (rejection !== null) throw forbidden(`You are not allowed to ${membership} this room: ${rejection}`);
    return { event, room_version: version.id };
  }

  /**
   * For a join under a `restricted` (v8+) or `knock_restricted` (v10+) rule by a user neither invited nor joined:
   * a local member who may invite and vouches for the join, provided the user is in a room the rule allows.
   */
  private async restrictedJoinAuthoriser(userId: string, version: RoomVersion, state: StateMap<string>): Promise<string | undefined> {
    const relevant = [CREATE_KEY, POWER_LEVELS_KEY, JOIN_RULES_KEY, memberKey(userId)];
    const events = await this.o.events.getEvents(relevant.flatMap((k) => state.get(k) ?? []));
    const pdu = (key: string) => { const id = state.get(key); return id === undefined ? undefined : events.get(id)?.pdu; };
    const joinRules = pdu(JOIN_RULES_KEY)?.content;
    const rule = joinRules?.join_rule;
    const restricted = (version.restrictedJoinRule && rule === "restricted") || (version.knockRestrictedJoinRule && rule === "knock_restricted");
    const membership = pdu(memberKey(userId))?.content.membership;
    if (!restricted || membership === "invite" || membership === "join") return undefined;
    const allow = Array.isArray(joinRules?.allow) ? joinRules.allow : [];
    const joinedRooms = new Set(await this.o.state.roomsForUser(userId, "join"));
    const allowed = allow.some((entry) => typeof entry === "object" && entry !== null && !Array.isArray(entry)
      && entry.type === "m.room_membership" && typeof entry.room_id === "string" && joinedRooms.has(entry.room_id));
    if (!allowed) throw forbidden(`${userId} is not in any room the join rule of this room allows`);
    const authState: StateMap<Pdu> = new Map();
    for (const key of [CREATE_KEY, POWER_LEVELS_KEY]) { const e = pdu(key); if (e) authState.set(key, e); }
    const inviteLevel = namedPowerLevel("invite", authState, version);
    const localMembers = [...state.keys()].map(parseStateKey).filter(([type, user]) => type === "m.room.member" && serverNameOf(user) === this.o.serverName).map(([, user]) => user);
    const memberships = await this.o.state.membershipsOf(localMembers.map((user) => state.get(memberKey(user))!));
    const candidate = localMembers.sort().find((user) => memberships.get(state.get(memberKey(user))!) === "join" && userPowerLevel(user, authState, version) >= inviteLevel);
    if (candidate === undefined) throw new MatrixError(400, "M_UNABLE_TO_AUTHORISE_JOIN", "No user of this server can authorise the join");
    return candidate;
  }

  /** Checks a membership event sent back by `origin` and persists it as an event of the room's timeline. */
  private async receiveMembership(origin: string, roomId: string, eventId: string, body: unknown, membership: Membership): Promise<{ event: Pdu; version: RoomVersion; persisted: PersistedEvent; signedByUs: boolean }> {
    const version = await this.o.eventCreation.roomVersion(roomId);
    let pdu: Pdu;
    try {
      pdu = toPduJson(parsePdu(body), version);
    } catch (e) {
      throw badJson((e as Error).message);
    }
    if (computeEventId(pdu, version) !== eventId) throw badJson("The event ID in the path does not match the event");
    if (pdu.room_id !== roomId) throw badJson("The event is for another room");
    if (pdu.type !== "m.room.member" || pdu.content.membership !== membership) throw badJson(`Not a ${membership} event`);
    if (typeof pdu.sender !== "string" || pdu.state_key !== pdu.sender) throw badJson("The sender and state_key of a membership event sent this way must match");
    if (serverNameOf(pdu.sender) !== origin) throw forbidden(`${pdu.sender} is not a user of ${origin}`);
    // A restricted join we authorise needs our signature before the signature checks can pass (Synapse does the same).
    const authoriser = pdu.content.join_authorised_via_users_server;
    const signedByUs = membership === "join" && version.restrictedJoinRule && typeof authoriser === "string" && serverNameOf(authoriser) === this.o.serverName;
    if (signedByUs) {
      if (!checkContentHash(pdu)) throw forbidden("The event's content hash does not match");
      pdu = signEvent(pdu, version, this.o.serverName, this.o.signingKey);
    }
    const check = await checkPdu(pdu, version, this.o.keyring);
    if (!check.ok) throw forbidden(check.reason);
    const persisted = (await this.o.eventHandler.onReceivePdu(origin, check.event, version, { sendOnBehalfOf: origin }))
      ?? (await this.persistedEvent(eventId));
    if (persisted.rejected) {
      const stored = await this.o.events.getEvent(eventId);
      throw forbidden(`The ${membership} event was rejected: ${stored?.rejectedReason ?? "auth rules"}`);
    }
    return { event: check.event, version, persisted, signedByUs };
  }

  private async persistedEvent(eventId: string): Promise<PersistedEvent> {
    const event = await this.o.events.getPersistedEvent(eventId);
    if (!event) throw new Error(`${eventId} should have been persisted`);
    return event;
  }

  /** send_join v2: the room state before the join and its auth chain (full state: members are never omitted). */
  async onSendJoin(origin: string, roomId: string, eventId: string, body: unknown): Promise<SendJoinResponse> {
    const { event, version, signedByUs } = await this.receiveMembership(origin, roomId, eventId, body, "join");
    const stateBefore = await this.o.stateHandler.stateBeforeEvent(eventId);
    if (!stateBefore) throw new Error(`no state is stored before ${eventId}`);
    const stateIds = [...stateBefore.values()];
    const authIds = await this.o.events.getAuthChainIds([...stateIds, ...authEventIdsOf(event, version)]);
    const events = await this.o.events.getEvents([...stateIds, ...authIds]);
    const pdusOf = (ids: Iterable<string>) => [...ids].flatMap((id) => events.get(id)?.pdu ?? []);
    return {
      origin: this.o.serverName,
      state: pdusOf(stateIds),
      auth_chain: pdusOf(authIds),
      ...(signedByUs ? { event } : {}),
      members_omitted: false,
      servers_in_room: [...(await this.o.state.currentJoinedHosts(roomId))].sort(),
    };
  }

  /** send_leave v2: `{}` once the leave is persisted. */
  async onSendLeave(origin: string, roomId: string, eventId: string, body: unknown): Promise<Record<string, never>> {
    await this.receiveMembership(origin, roomId, eventId, body, "leave");
    return {};
  }

  /** send_knock: the stripped state the knocking user may see. */
  async onSendKnock(origin: string, roomId: string, eventId: string, body: unknown): Promise<{ knock_room_state: JsonObject[] }> {
    await this.receiveMembership(origin, roomId, eventId, body, "knock");
    return { knock_room_state: await this.strippedState(await this.o.state.getCurrentState(roomId)) };
  }

  /**
   * An invite for one of our users: checked, countersigned, and kept as an outlier (we may hold nothing else of
   * the room) until the user joins or rejects it. `apiVersion` 1 is the body-is-the-event form (v1–2 rooms).
   */
  async onInvite(origin: string, roomId: string, eventId: string, body: unknown, apiVersion: 1 | 2): Promise<Pdu> {
    let raw: unknown = body;
    let versionId: string;
    if (apiVersion === 2) {
      const parsed = inviteV2Schema.safeParse(body);
      if (!parsed.success) throw badJson(`Invalid invite: ${parsed.error.issues[0]!.message}`);
      raw = parsed.data.event;
      versionId = parsed.data.room_version;
    } else {
      // The v1 API is for rooms of versions 1 and 2, whose events look the same; the join will tell which.
      versionId = (await this.o.rooms.getRoomVersion(roomId)) ?? "1";
    }
    if (!isKnownRoomVersion(versionId)) {
      throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `Room version ${versionId} is not supported`, { room_version: versionId });
    }
    const version = getRoomVersion(versionId);
    const check = await checkPdu(raw, version, this.o.keyring);
    if (!check.ok) throw forbidden(check.reason);
    const { event } = check;
    if (check.eventId !== eventId) throw badJson("The event ID in the path does not match the event");
    if (event.room_id !== roomId) throw badJson("The event is for another room");
    if (event.type !== "m.room.member" || event.content.membership !== "invite" || typeof event.state_key !== "string") throw badJson("Not an invite");
    if (serverNameOf(String(event.sender)) !== origin) throw forbidden(`The inviter is not a user of ${origin}`);
    if (serverNameOf(event.state_key) !== this.o.serverName) throw forbidden(`${event.state_key} is not a user of this server`);
    if (!(await this.o.users.getUser(event.state_key))) throw notFound(`Unknown user ${event.state_key}`);
    const signed = signEvent(event, version, this.o.serverName, this.o.signingKey);
    await this.o.rooms.storeRoom(roomId, version.id, this.now());
    await this.o.persister.persistOutliers([{ event: signed, version, rejectedReason: null }]);
    return signed;
  }

  /** The stripped form of a state's room-describing events. */
  private async strippedState(state: StateMap<string>, extra: string[] = []): Promise<JsonObject[]> {
    const ids = [...state].filter(([key]) => STRIPPED_STATE_TYPES.includes(parseStateKey(key)[0])).map(([, id]) => id);
    const events = await this.o.events.getEvents([...ids, ...extra]);
    return [...events.values()].map(({ pdu }) => ({ type: pdu.type, state_key: pdu.state_key ?? "", content: pdu.content, sender: pdu.sender ?? "" }));
  }

  // ---- joining side ---------------------------------------------------------------------------------------

  /** Fills in and signs a make_* template as our user's membership event. */
  private signTemplate(template: JsonObject, version: RoomVersion): { event: Pdu; eventId: string } {
    const { signatures: _s, hashes: _h, unsigned: _u, ...fields } = template;
    return signNewEvent(finishEvent(fields, version, this.o.serverName, this.now()), version, this.o.serverName, this.o.signingKey);
  }

  /** Joins a room we are not in through the first of `servers` that completes make_join and send_join. */
  async joinRemoteRoom(servers: string[], roomId: string, userId: string): Promise<PersistedEvent> {
    const { result } = await this.o.client.tryEach(servers, `join ${roomId}`, async (server) => {
      const { template, version } = await this.o.client.makeMembershipEvent([server], roomId, userId, "join");
      const { event } = this.signTemplate(template, version);
      const response = await this.o.client.sendJoin(server, roomId, event, version);
      return this.o.eventHandler.processRemoteJoin(server, roomId, version, response.event ?? event, response.state, response.authChain);
    });
    return result;
  }

  /** Leaves (or rejects an invite to) a room we hold no state of, through make_leave/send_leave. */
  async leaveRemoteRoom(servers: string[], roomId: string, userId: string): Promise<PersistedEvent> {
    const { result } = await this.o.client.tryEach(servers, `leave ${roomId}`, async (server) => {
      const { template, version } = await this.o.client.makeMembershipEvent([server], roomId, userId, "leave");
      const { event } = this.signTemplate(template, version);
      await this.o.client.sendLeave(server, roomId, event, version);
      await this.o.rooms.storeRoom(roomId, version.id, this.now());
      const [persisted] = await this.o.persister.persistOutliers([{ event, version, rejectedReason: null }]);
      return persisted ?? (await this.persistedEvent(eventIdOf(event, version)));
    });
    return result;
  }

  /** Invites a remote user: their server countersigns the invite, which we then persist and send to the room. */
  async inviteRemoteUser(prepared: PreparedEvent, invitee: string): Promise<PersistedEvent> {
    const { roomId, version, context } = prepared;
    const inviterMember = context.stateBefore.get(memberKey(String(prepared.event.sender)));
    const inviteRoomState = await this.strippedState(context.stateBefore, inviterMember ? [inviterMember] : []);
    const signed = await this.o.client.sendInvite(serverNameOf(invitee), roomId, prepared.event, version, inviteRoomState);
    return this.o.roomLocks.run(roomId, () => this.o.eventCreation.persistPrepared({ ...prepared, event: signed }));
  }
}
