/**
 * Builds small rooms of real, signed events for the auth rules and state resolution tests: event IDs come from
 * computeEventId (carried `$name:server` IDs in v1–2), v12 room IDs from the create event's hash, and auth events
 * from the auth events selection against a chosen state, as a real server would pick them.
 */
import { signingKeyFromSeed, type JsonObject } from "../../server/crypto";
import {
  authEventIdsOf,
  authTypesForEvent,
  checkAuthRules,
  computeEventId,
  computeRoomId,
  getRoomVersion,
  serverNameOf,
  signEvent,
  stateKey,
  stateKeyOfEvent,
  type Pdu,
  type RoomVersion,
  type StateMap,
  type StateResolutionStore,
} from "../../server/events";

export const TEST_KEY = signingKeyFromSeed(Buffer.alloc(32, 7), "test");

export interface EventSpec {
  type: string;
  sender: string;
  stateKey?: string;
  content?: JsonObject;
  /** Default: the last event added. */
  prevEvents?: string[];
  /** Default: the auth events selection against the state given to build. */
  authEvents?: string[];
  /** Local name of a v1–2 event ID (`$name:server`); default a counter. */
  name?: string;
  /** Other top-level fields (e.g. `redacts`). */
  extra?: JsonObject;
  ts?: number;
}

export interface BuiltEvent {
  id: string;
  event: Pdu;
}

export class TestRoom {
  readonly version: RoomVersion;
  readonly events = new Map<string, Pdu>();
  /** The room's current state (type/state_key → event ID), advanced by send and add. */
  readonly state: StateMap<string> = new Map();
  readonly roomId: string;
  readonly createId: string;
  private lastId: string | undefined;
  private clock = 0;
  private counter = 0;
  private depth = 0;

  /** `createName` names the create event's v1–2 ID (`$name:server`); `roomLocalpart` tells rooms of one test apart (v1–11). */
  constructor(versionId: string, creator: string, createContent: JsonObject = {}, createName?: string, roomLocalpart = "room") {
    this.version = getRoomVersion(versionId);
    const content: JsonObject = { room_version: versionId, ...createContent };
    if (!this.version.implicitRoomCreator && !("creator" in createContent)) content.creator = creator;
    this.roomId = `!${roomLocalpart}:${serverNameOf(creator)}`;
    if (this.version.roomIdFormat === "create-event-hash") {
      const draft = this.build({ type: "m.room.create", sender: creator, stateKey: "", content, prevEvents: [], authEvents: [], name: createName });
      this.roomId = computeRoomId(draft.event, this.version);
      this.createId = this.add(draft);
    } else {
      this.createId = this.send({ type: "m.room.create", sender: creator, stateKey: "", content, prevEvents: [], authEvents: [], name: createName });
    }
  }

  /** A signed event (not added). Its auth events are selected from `state` unless spec.authEvents says otherwise. */
  build(spec: EventSpec, state: StateMap<string> = this.state): BuiltEvent {
    this.clock += 1;
    this.depth += 1;
    const draft: JsonObject = {
      type: spec.type,
      sender: spec.sender,
      content: spec.content ?? {},
      origin_server_ts: spec.ts ?? this.clock,
      depth: this.depth,
      prev_events: [],
      auth_events: [],
    };
    if (!(this.version.roomIdFormat === "create-event-hash" && spec.type === "m.room.create")) draft.room_id = this.roomId;
    if (spec.stateKey !== undefined) draft.state_key = spec.stateKey;
    Object.assign(draft, spec.extra);
    const opaque = this.version.eventIdFormat === "opaque";
    if (opaque) draft.event_id = `$${spec.name ?? `e${++this.counter}`}:${serverNameOf(spec.sender)}`;
    const authIds = spec.authEvents ?? this.selectAuthEvents(draft as Pdu, state);
    const prevIds = spec.prevEvents ?? (this.lastId ? [this.lastId] : []);
    // v1–2 cite events as [id, hashes] pairs.
    draft.auth_events = opaque ? authIds.map((id) => [id, {}]) : authIds;
    draft.prev_events = opaque ? prevIds.map((id) => [id, {}]) : prevIds;
    const event = signEvent(draft, this.version, serverNameOf(spec.sender), TEST_KEY);
    return { id: computeEventId(event, this.version), event };
  }

  private selectAuthEvents(event: Pdu, state: StateMap<string>): string[] {
    return authTypesForEvent(event, this.version).flatMap(([type, key]) => state.get(stateKey(type, key)) ?? []);
  }

  /** The state an event is checked against: its own auth events, plus from v12 the create event its room ID names. */
  authStateOf(event: Pdu): StateMap<Pdu> {
    const authState: StateMap<Pdu> = new Map();
    for (const id of authEventIdsOf(event, this.version)) {
      const authEvent = this.events.get(id);
      const key = authEvent && stateKeyOfEvent(authEvent);
      if (authEvent && key) authState.set(key, authEvent);
    }
    return authState;
  }

  /** Builds the event and runs the auth rules on it against its auth events; throws AuthError when refused. */
  check(spec: EventSpec): BuiltEvent {
    const built = this.build(spec);
    checkAuthRules(built.event, this.authStateOf(built.event), this.version);
    return built;
  }

  /** Adds an already built event to the room without checking it and advances the current state. */
  add(built: BuiltEvent): string {
    this.events.set(built.id, built.event);
    const key = stateKeyOfEvent(built.event);
    if (key !== undefined) this.state.set(key, built.id);
    this.lastId = built.id;
    return built.id;
  }

  /** check + add: the event must be allowed. */
  send(spec: EventSpec): string {
    return this.add(this.check(spec));
  }

  get(id: string): Pdu {
    const event = this.events.get(id);
    if (!event) throw new Error(`no event ${id}`);
    return event;
  }

  /** A StateResolutionStore over the room's events; `rejected` lists events to report as rejected. */
  store(rejected: Iterable<string> = []): StateResolutionStore {
    const rejectedIds = new Set(rejected);
    return {
      getEvents: async (ids) => new Map([...ids].flatMap((id) => (this.events.has(id) ? [[id, this.get(id)] as const] : []))),
      getAuthChain: async (ids) => {
        const chain = new Set<string>();
        const stack = [...ids].flatMap((id) => authEventIdsOf(this.get(id), this.version));
        for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
          if (chain.has(id)) continue;
          chain.add(id);
          stack.push(...authEventIdsOf(this.get(id), this.version));
        }
        return chain;
      },
      getRejectedEventIds: async (ids) => new Set([...ids].filter((id) => rejectedIds.has(id))),
    };
  }
}
