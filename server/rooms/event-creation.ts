/**
 * EventCreationHandler (Synapse synapse/handlers/message.py): new events of local users. An event builds on the
 * room's forward extremities (at most 10, the deepest), cites as auth events the current holders of the keys
 * the auth events selection names, is one deeper than its deepest prev event, and is signed with our key. It
 * must pass the auth rules against the state it builds on before it is persisted; a refusal is 403 M_FORBIDDEN.
 */
import type { JsonObject, SigningKey } from "../crypto";
import {
  authTypesForEvent, buildEvent, getRoomVersion, MAX_PREV_EVENTS, serverNameOf, signNewEvent, stateKey,
  type EventFields, type Pdu, type RoomVersion,
} from "../events";
import { forbidden, notFound } from "../http/matrix-error";
import type { EventStore } from "../store/event-store";
import type { RoomStore } from "../store/room-store";
import type { Linearizer } from "../util/linearizer";
import type { EventPersister, PersistedEvent } from "./event-persister";
import type { EventContext, StateHandler } from "./state-handler";

export interface PreparedEvent {
  event: Pdu;
  eventId: string;
  roomId: string;
  version: RoomVersion;
  context: EventContext;
}

export interface EventCreationHandlerOptions {
  serverName: string;
  signingKey: SigningKey;
  rooms: RoomStore;
  events: EventStore;
  stateHandler: StateHandler;
  persister: EventPersister;
  roomLocks: Linearizer;
  now?: () => number;
}

export class EventCreationHandler {
  private readonly now: () => number;

  constructor(private readonly o: EventCreationHandlerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Builds, checks and persists a local user's event in the room. */
  send(roomId: string, fields: EventFields): Promise<PersistedEvent> {
    return this.o.roomLocks.run(roomId, async () => this.persistPrepared(await this.prepare(roomId, fields)));
  }

  async roomVersion(roomId: string): Promise<RoomVersion> {
    const versionId = await this.o.rooms.getRoomVersion(roomId);
    if (versionId === null) throw notFound(`Unknown room ${roomId}`);
    return getRoomVersion(versionId);
  }

  /**
   * The unsigned event on the room's current forward extremities, and the state it builds on, for any sender:
   * local events start here, and so do the make_join/make_leave/make_knock templates we hand other servers.
   * 404 when this server holds no timeline of the room.
   */
  async buildUnsigned(roomId: string, fields: EventFields): Promise<{ event: JsonObject; version: RoomVersion; context: EventContext }> {
    const version = await this.roomVersion(roomId);
    const extremities = await this.o.events.getForwardExtremities(roomId);
    if (extremities.length === 0) throw notFound(`This server is not in room ${roomId}`);
    const stored = await this.o.events.getEvents(extremities);
    const prevEvents = [...stored.values()].sort((a, b) => b.depth - a.depth || a.eventId.localeCompare(b.eventId)).slice(0, MAX_PREV_EVENTS);
    const context = await this.o.stateHandler.computeContext(version, prevEvents.map((e) => e.eventId));
    const selection = authTypesForEvent(
      { type: fields.type, sender: fields.sender, content: fields.content, ...(fields.stateKey !== undefined ? { state_key: fields.stateKey } : {}) },
      version,
    );
    const authIds = selection.flatMap(([type, key]) => context.stateBefore.get(stateKey(type, key)) ?? []);
    const authEvents = await this.o.events.getEvents(authIds);
    const event = buildEvent({
      version,
      roomId,
      fields,
      prevEvents: prevEvents.map((e) => ({ eventId: e.eventId, event: e.pdu })),
      authEvents: authIds.flatMap((id) => {
        const authEvent = authEvents.get(id);
        return authEvent ? [{ eventId: id, event: authEvent.pdu }] : [];
      }),
      origin: this.o.serverName,
      originServerTs: this.now(),
    });
    return { event, version, context };
  }

  /** A signed local event that passes the auth rules against the state it builds on (403 otherwise); not persisted. */
  async prepare(roomId: string, fields: EventFields): Promise<PreparedEvent> {
    if (serverNameOf(fields.sender) !== this.o.serverName) throw forbidden(`${fields.sender} is not a user of this server`);
    const { event: unsigned, version, context } = await this.buildUnsigned(roomId, fields);
    const { event, eventId } = signNewEvent(unsigned, version, this.o.serverName, this.o.signingKey);
    const rejection = await this.o.stateHandler.rejectionByState(event, version, context.stateBefore);
    if (rejection !== null) throw forbidden(rejection);
    return { event, eventId, roomId, version, context };
  }

  /** Persists a prepared event; the caller holds the room's lock. */
  persistPrepared(prepared: PreparedEvent): Promise<PersistedEvent> {
    return this.o.persister.persist({ event: prepared.event, version: prepared.version, context: prepared.context });
  }
}
