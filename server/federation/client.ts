/**
 * FederationClient (Synapse synapse/federation/federation_client.py): the outgoing federation operations the
 * room handlers need, above the one-endpoint-per-method TransportLayerClient. Every event another server hands
 * us passes the receipt checks (signatures, content hash, format) before a caller sees it; events that fail are
 * dropped. Reads that any server in the room can answer try each given server in turn until one does, and checked
 * events are cached by ID, since an event never changes.
 */
import { LRUCache } from "lru-cache";
import type { JsonObject } from "../crypto";
import {
  eventIdOf, getRoomVersion, isKnownRoomVersion, redactEvent, ROOM_VERSION_IDS, roomIdForCreateEvent, type Pdu, type RoomVersion,
} from "../events";
import type { Logger } from "../http/router";
import type { Keyring } from "../keys/keyring";
import type { CachedMedia, RemoteMediaCache } from "../media/remote-media-cache";
import { checkPdu } from "./event-checks";
import type {
  DirectoryResponse, KeysClaimResponse, KeysQueryResponse, ProfileResponse, TransportLayerClient, UserDevicesResponse,
} from "./transport/client";

export type Membership = "join" | "leave" | "knock";

export interface MembershipTemplate {
  /** the server that answered make_join/make_leave/make_knock */
  server: string;
  template: JsonObject;
  version: RoomVersion;
}

export interface SendJoinResult {
  state: Pdu[];
  authChain: Pdu[];
  /** the join as the resident server returned it (with its signature, for restricted joins), if it did */
  event: Pdu | undefined;
  serversInRoom: string[];
}

export interface FederationClientOptions {
  serverName: string;
  transport: TransportLayerClient;
  keyring: Keyring;
  /** where downloaded remote media is kept (bounded) */
  media: RemoteMediaCache;
  log: Logger;
  /** checked events kept in memory */
  eventCacheSize?: number;
}

/** No server could answer; `causes` has each server's failure. */
export class NoServerAnsweredError extends Error {
  constructor(what: string, readonly causes: Array<{ server: string; error: Error }>) {
    super(`${what}: ${causes.length === 0 ? "no server to ask" : causes.map((c) => `${c.server}: ${c.error.message}`).join("; ")}`);
    this.name = "NoServerAnsweredError";
  }
}

/** Spec: a make_join response without room_version is for a version 1 room. */
const DEFAULT_MAKE_JOIN_VERSION = "1";

export class FederationClient {
  private readonly eventCache: LRUCache<string, Pdu>;

  constructor(private readonly o: FederationClientOptions) {
    this.eventCache = new LRUCache({ max: o.eventCacheSize ?? 10_000 });
  }

  /** Each server once, in the order given, without us. */
  private candidates(servers: Iterable<string>): string[] {
    return [...new Set(servers)].filter((s) => s !== this.o.serverName);
  }

  /** Runs `fn` against each server in turn until one succeeds. */
  async tryEach<T>(servers: Iterable<string>, what: string, fn: (server: string) => Promise<T>): Promise<{ server: string; result: T }> {
    const causes: Array<{ server: string; error: Error }> = [];
    for (const server of this.candidates(servers)) {
      try {
        return { server, result: await fn(server) };
      } catch (e) {
        if (!(e instanceof Error)) throw e;
        this.o.log.debug(`${what} failed, trying the next server`, { server, error: e.message });
        causes.push({ server, error: e });
      }
    }
    throw new NoServerAnsweredError(what, causes);
  }

  /** The receipt checks on events from `origin`, keeping those that pass and belong to `roomId`. */
  async checkEvents(origin: string, roomId: string, raw: unknown[], version: RoomVersion): Promise<Pdu[]> {
    const checked = await Promise.all(raw.map((event) => checkPdu(event, version, this.o.keyring)));
    const events: Pdu[] = [];
    for (const result of checked) {
      if (!result.ok) {
        this.o.log.info("dropping an event that failed the receipt checks", { origin, event_id: result.eventId, reason: result.reason });
        continue;
      }
      // A v12 create event has no room_id: its hash is the room ID.
      const inRoom = result.event.room_id === undefined
        ? result.event.type === "m.room.create" && roomIdForCreateEvent(result.eventId) === roomId
        : result.event.room_id === roomId;
      if (!inRoom) {
        this.o.log.info("dropping an event of another room", { origin, event_id: result.eventId, room_id: result.event.room_id });
        continue;
      }
      if (!result.redacted) this.eventCache.set(result.eventId, result.event);
      events.push(result.event);
    }
    return events;
  }

  /**
   * make_join / make_leave / make_knock on each server until one answers with a usable template: a membership
   * event of `userId` in `roomId`, in a room version we support.
   */
  async makeMembershipEvent(servers: Iterable<string>, roomId: string, userId: string, membership: Membership): Promise<MembershipTemplate> {
    const { server, result } = await this.tryEach(servers, `make_${membership}`, async (server) => {
      const response = membership === "join"
        ? await this.o.transport.makeJoin(server, roomId, userId, [...ROOM_VERSION_IDS])
        : membership === "leave"
          ? await this.o.transport.makeLeave(server, roomId, userId)
          : await this.o.transport.makeKnock(server, roomId, userId, [...ROOM_VERSION_IDS]);
      const versionId = response.room_version ?? DEFAULT_MAKE_JOIN_VERSION;
      if (!isKnownRoomVersion(versionId)) throw new Error(`${server} offered unknown room version ${versionId}`);
      const template = response.event;
      const content = template.content as JsonObject | undefined;
      if (template.type !== "m.room.member" || template.room_id !== roomId || template.sender !== userId
        || template.state_key !== userId || content?.membership !== membership) {
        throw new Error(`${server} returned a make_${membership} template that is not ${userId}'s ${membership} in ${roomId}`);
      }
      return { template, version: getRoomVersion(versionId) };
    });
    return { server, ...result };
  }

  /** send_join v2; the state and auth chain come back checked (events that fail the checks are dropped). */
  async sendJoin(server: string, roomId: string, event: Pdu, version: RoomVersion): Promise<SendJoinResult> {
    const eventId = eventIdOf(event, version);
    const response = await this.o.transport.sendJoin(server, roomId, eventId, event);
    const [state, authChain] = await Promise.all([
      this.checkEvents(server, roomId, response.state, version),
      this.checkEvents(server, roomId, response.auth_chain, version),
    ]);
    let returned: Pdu | undefined;
    if (response.event) {
      const [checked] = await this.checkEvents(server, roomId, [response.event], version);
      if (!checked || eventIdOf(checked, version) !== eventId) throw new Error(`${server} returned a different join event from send_join`);
      returned = checked;
    }
    return { state, authChain, event: returned, serversInRoom: response.servers_in_room ?? [] };
  }

  async sendLeave(server: string, roomId: string, event: Pdu, version: RoomVersion): Promise<void> {
    await this.o.transport.sendLeave(server, roomId, eventIdOf(event, version), event);
  }

  /**
   * Sends an invite to the invitee's server (v1 API for room versions 1–2, v2 otherwise) and returns the event as
   * that server signed it: the same event, now with both servers' signatures, both checked.
   */
  async sendInvite(destination: string, roomId: string, event: Pdu, version: RoomVersion, inviteRoomState: JsonObject[]): Promise<Pdu> {
    const eventId = eventIdOf(event, version);
    const returned = version.eventIdFormat === "opaque"
      ? await this.o.transport.inviteV1(destination, roomId, eventId, event)
      : await this.o.transport.inviteV2(destination, roomId, eventId, { event, room_version: version.id, invite_room_state: inviteRoomState });
    const [checked] = await this.checkEvents(destination, roomId, [returned], version);
    if (!checked || eventIdOf(checked, version) !== eventId) throw new Error(`${destination} returned a different event from invite`);
    if (!checked.signatures?.[destination]) throw new Error(`${destination} did not sign the invite`);
    // Event signatures cover the redacted form, whatever server made them.
    await this.o.keyring.verifyJsonForServer(redactEvent(checked, version), destination);
    return checked;
  }

  /** One event by ID from the first server that has it (cached once checked). */
  async getEvent(servers: Iterable<string>, roomId: string, eventId: string, version: RoomVersion): Promise<Pdu> {
    const cached = this.eventCache.get(eventId);
    if (cached) return cached;
    const { result } = await this.tryEach(servers, `get event ${eventId}`, async (server) => {
      const response = await this.o.transport.getEvent(server, eventId);
      const events = await this.checkEvents(server, roomId, response.pdus, version);
      const event = events.find((e) => eventIdOf(e, version) === eventId);
      if (!event) throw new Error(`${server} did not return a valid ${eventId}`);
      return event;
    });
    return result;
  }

  /** Events by ID, fetched in parallel (a few at a time); those no server returned are left out. */
  async getEvents(servers: string[], roomId: string, eventIds: string[], version: RoomVersion): Promise<Pdu[]> {
    const found: Pdu[] = [];
    for (let i = 0; i < eventIds.length; i += 10) {
      const batch = await Promise.allSettled(eventIds.slice(i, i + 10).map((id) => this.getEvent(servers, roomId, id, version)));
      for (const outcome of batch) {
        if (outcome.status === "fulfilled") found.push(outcome.value);
        else this.o.log.info("could not fetch an event from any server", { room_id: roomId, error: (outcome.reason as Error).message });
      }
    }
    return found;
  }

  async getEventAuth(servers: Iterable<string>, roomId: string, eventId: string, version: RoomVersion): Promise<Pdu[]> {
    const { server, result } = await this.tryEach(servers, `event_auth ${eventId}`, (server) => this.o.transport.getEventAuth(server, roomId, eventId));
    return this.checkEvents(server, roomId, result, version);
  }

  /** The IDs of the room state before `eventId` and of its auth chain. */
  async getStateIds(servers: Iterable<string>, roomId: string, eventId: string): Promise<{ server: string; stateIds: string[]; authChainIds: string[] }> {
    const { server, result } = await this.tryEach(servers, `state_ids at ${eventId}`, (server) => this.o.transport.getRoomStateIds(server, roomId, eventId));
    return { server, stateIds: result.pdu_ids, authChainIds: result.auth_chain_ids };
  }

  /** The room state before `eventId` and its auth chain, as events. */
  async getState(servers: Iterable<string>, roomId: string, eventId: string, version: RoomVersion): Promise<{ state: Pdu[]; authChain: Pdu[] }> {
    const { server, result } = await this.tryEach(servers, `state at ${eventId}`, (server) => this.o.transport.getRoomState(server, roomId, eventId));
    const [state, authChain] = await Promise.all([
      this.checkEvents(server, roomId, result.pdus, version),
      this.checkEvents(server, roomId, result.auth_chain, version),
    ]);
    return { state, authChain };
  }

  async getMissingEvents(
    destination: string, roomId: string, version: RoomVersion,
    request: { earliest: string[]; latest: string[]; limit: number; minDepth: number },
  ): Promise<Pdu[]> {
    const events = await this.o.transport.getMissingEvents(destination, roomId, {
      earliest_events: request.earliest, latest_events: request.latest, limit: request.limit, min_depth: request.minDepth,
    });
    return this.checkEvents(destination, roomId, events, version);
  }

  /** Older events from the first server that answers: from `fromIds` (which we lack) back, up to `limit`. */
  async backfill(servers: Iterable<string>, roomId: string, version: RoomVersion, fromIds: string[], limit: number): Promise<{ server: string; events: Pdu[] }> {
    const { server, result } = await this.tryEach(servers, "backfill", (server) => this.o.transport.backfill(server, roomId, fromIds, limit));
    return { server, events: await this.checkEvents(server, roomId, result.pdus, version) };
  }

  queryProfile(userId: string, field?: "displayname" | "avatar_url"): Promise<ProfileResponse> {
    return this.o.transport.queryProfile(serverOf(userId), userId, field);
  }

  queryDirectory(roomAlias: string): Promise<DirectoryResponse> {
    return this.o.transport.queryDirectory(serverOf(roomAlias), roomAlias);
  }

  getUserDevices(userId: string): Promise<UserDevicesResponse> {
    return this.o.transport.getUserDevices(serverOf(userId), userId);
  }

  /** Device keys of users on one server: user → device IDs (empty: all devices). */
  queryUserKeys(destination: string, deviceKeys: Record<string, string[]>): Promise<KeysQueryResponse> {
    return this.o.transport.queryUserKeys(destination, deviceKeys);
  }

  claimUserKeys(destination: string, oneTimeKeys: Record<string, Record<string, string>>): Promise<KeysClaimResponse> {
    return this.o.transport.claimUserKeys(destination, oneTimeKeys);
  }

  /** A remote server's media (`mxc://server/mediaId`), from the local cache or downloaded into it. */
  downloadMedia(server: string, mediaId: string): Promise<CachedMedia> {
    return this.o.media.get(server, mediaId);
  }
}

/** The server part of a user ID or room alias. */
function serverOf(id: string): string {
  const colon = id.indexOf(":");
  if (colon < 1) throw new Error(`${id} names no server`);
  return id.slice(colon + 1);
}
