/**
 * The rooms engine built from its collaborators, as createOutboundFederation builds the outbound stack: event
 * persistence and state, local events and rooms, membership, the federation side of rooms (client, incoming
 * events, handshakes, staging workers) and the read-only handlers other servers query. The composition root
 * (homeserver.ts) calls this once and wires the result into the federation server, the sender and the API.
 */
import type { SigningKey } from "../crypto";
import { FederationClient } from "../federation/client";
import { FederationEventHandler } from "../federation/event-handler";
import { FederationHandler } from "../federation/federation-handler";
import { StagingWorkers } from "../federation/room-worker";
import type { TransportLayerClient } from "../federation/transport/client";
import { DirectoryHandler } from "../handlers/directory";
import { E2eKeysHandler } from "../handlers/e2e-keys";
import { ProfileHandler } from "../handlers/profile";
import { RoomListHandler } from "../handlers/room-list";
import { RoomSummaryHandler } from "../handlers/room-summary";
import type { Logger } from "../http/router";
import type { Keyring } from "../keys/keyring";
import { RemoteMediaCache } from "../media/remote-media-cache";
import type { EventStore } from "../store/event-store";
import type { RoomStore } from "../store/room-store";
import type { StagingStore } from "../store/staging-store";
import type { StateStore } from "../store/state-store";
import type { UserStore } from "../store/user-store";
import { Linearizer } from "../util/linearizer";
import { EventCreationHandler } from "./event-creation";
import { EventPersister } from "./event-persister";
import { RoomEventSource } from "./event-source";
import { RoomCreationHandler } from "./room-creation";
import { RoomMemberHandler } from "./room-member";
import { StateHandler } from "./state-handler";

export interface RoomsEngineDeps {
  serverName: string;
  defaultRoomVersion: string;
  signingKey: SigningKey;
  keyring: Keyring;
  transportClient: TransportLayerClient;
  stores: { users: UserStore; rooms: RoomStore; events: EventStore; state: StateStore; staging: StagingStore };
  /** where other servers' media is cached */
  remoteMediaDir: string;
  log: Logger & { child(component: string): Logger };
  now: () => number;
}

/** The bound on cached remote media (Synapse keeps remote media until media_retention says otherwise). */
export const REMOTE_MEDIA_CACHE_BYTES = 1024 * 1024 * 1024;

export interface RoomsEngine {
  /** one queue per room: every writer of a room's events goes through it */
  roomLocks: Linearizer;
  stateHandler: StateHandler;
  persister: EventPersister;
  eventCreation: EventCreationHandler;
  roomCreation: RoomCreationHandler;
  members: RoomMemberHandler;
  federationClient: FederationClient;
  federationEvents: FederationEventHandler;
  federationHandler: FederationHandler;
  stagingWorkers: StagingWorkers;
  /** what the federation sender reads */
  eventSource: RoomEventSource;
  summaries: RoomSummaryHandler;
  roomList: RoomListHandler;
  profiles: ProfileHandler;
  directory: DirectoryHandler;
  e2eKeys: E2eKeysHandler;
}

export function createRoomsEngine(deps: RoomsEngineDeps): RoomsEngine {
  const { serverName, signingKey, keyring, stores, log, now } = deps;
  const roomLocks = new Linearizer();
  const stateHandler = new StateHandler(stores.events, stores.state);
  const persister = new EventPersister({ events: stores.events, state: stores.state, stateHandler, log: log.child("persist"), now });
  const eventCreation = new EventCreationHandler({
    serverName, signingKey, rooms: stores.rooms, events: stores.events, stateHandler, persister, roomLocks, now,
  });
  const roomCreation = new RoomCreationHandler({
    serverName, signingKey, defaultRoomVersion: deps.defaultRoomVersion, users: stores.users, rooms: stores.rooms,
    stateHandler, persister, eventCreation, roomLocks, now,
  });
  const media = new RemoteMediaCache({
    dir: deps.remoteMediaDir, maxBytes: REMOTE_MEDIA_CACHE_BYTES, download: (server, mediaId) => deps.transportClient.downloadMedia(server, mediaId),
  });
  const federationClient = new FederationClient({ serverName, transport: deps.transportClient, keyring, media, log: log.child("federation-client") });
  const federationEvents = new FederationEventHandler({
    serverName, rooms: stores.rooms, events: stores.events, state: stores.state, stateHandler, persister, roomLocks,
    client: federationClient, log: log.child("federation-events"), now,
  });
  const federationHandler = new FederationHandler({
    serverName, signingKey, keyring, users: stores.users, rooms: stores.rooms, events: stores.events, state: stores.state,
    stateHandler, persister, eventCreation, eventHandler: federationEvents, client: federationClient, roomLocks, now,
  });
  const members = new RoomMemberHandler({
    serverName, users: stores.users, rooms: stores.rooms, events: stores.events, state: stores.state, eventCreation,
    federation: federationHandler, client: federationClient,
  });
  const summaries = new RoomSummaryHandler(stores.rooms, stores.state, stores.events);
  return {
    roomLocks, stateHandler, persister, eventCreation, roomCreation, members, federationClient, federationEvents, federationHandler,
    stagingWorkers: new StagingWorkers({
      staging: stores.staging, rooms: stores.rooms, events: stores.events, persister, handler: federationEvents, log: log.child("staging"),
    }),
    eventSource: new RoomEventSource(persister, stores.events, stores.state),
    summaries,
    roomList: new RoomListHandler(stores.rooms, summaries),
    profiles: new ProfileHandler(serverName, stores.users),
    directory: new DirectoryHandler(serverName, stores.rooms, stores.state),
    e2eKeys: new E2eKeysHandler(serverName, stores.users),
  };
}
