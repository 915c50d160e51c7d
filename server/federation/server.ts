/**
 * FederationServer (Synapse synapse/federation/federation_server.py and transport/server/federation.py): what
 * other servers ask of us. Transactions: PDUs are checked (room known, size, signatures, content hash) and staged
 * per room for the StagingWorkers; EDUs go to their handlers through the registry. The room's events and state
 * for servers in the room (state, state_ids, event, event_auth, backfill, get_missing_events), the membership
 * handshakes (FederationHandler), and the queries, public rooms, hierarchy and keys of our users.
 */
import { z } from "zod";
import { getRoomVersion, parsePdu, type Pdu, type RoomVersion } from "../events";
import { badJson, forbidden, MatrixError, missingParam, notFound } from "../http/matrix-error";
import type { Logger } from "../http/router";
import type { E2eKeysHandler } from "../handlers/e2e-keys";
import { publicRoomsRequestSchema, type RoomListHandler } from "../handlers/room-list";
import type { RoomSummaryHandler } from "../handlers/room-summary";
import type { StateHandler } from "../rooms/state-handler";
import type { EventStore, StoredEvent } from "../store/event-store";
import type { StateStore } from "../store/state-store";
import { checkPdu, MAX_PDU_BYTES } from "./event-checks";
import type { FederationHandler } from "./federation-handler";
import type { Keyring } from "../keys/keyring";
import type { FederationMetrics } from "../metrics";
import type { LoggedEdu } from "../store/inbound-store";
import type { RoomStore } from "../store/room-store";
import type { StagedEvent, StagingStore } from "../store/staging-store";
import type { FederationRegistry } from "./registry";
import type { TransactionActions, TransactionResponse } from "./transaction-actions";
import type { TransportLayerServer } from "./transport/server";

export const MAX_PDUS_PER_TRANSACTION = 50;
export const MAX_EDUS_PER_TRANSACTION = 100;
/** Synapse's limit on a whole /send request: 200 PDUs' worth. */
export const MAX_TRANSACTION_BYTES = 200 * MAX_PDU_BYTES;
/** Transaction IDs are opaque, but only URL-safe characters make sense, and "." / ".." look like path traversal. */
const TXN_ID = /^(?!\.{1,2}$)[A-Za-z0-9._~\-]{1,255}$/;

const transactionSchema = z.object({
  origin: z.string().optional(),
  origin_server_ts: z.number().int(),
  pdus: z.array(z.unknown()),
  edus: z.array(z.unknown()).optional(),
}).loose();

const eduSchema = z.object({ edu_type: z.string().min(1).max(255), content: z.unknown() }).loose();
const missingEventsSchema = z.object({
  earliest_events: z.array(z.string()),
  latest_events: z.array(z.string()),
  limit: z.number().int().min(0).optional(),
  min_depth: z.number().int().optional(),
}).loose();

/** Synapse caps backfill at 100 events a request and get_missing_events at 20 (it defaults to 10). */
const MAX_BACKFILL = 100;
const MAX_MISSING_EVENTS = 20;

export type PduResult = Record<string, never> | { error: string };
type StagedPdu = Omit<StagedEvent, "id">;

export interface FederationServerOptions {
  keyring: Keyring;
  rooms: RoomStore;
  staging: StagingStore;
  registry: FederationRegistry;
  transactions: TransactionActions;
  log: Logger;
  events: EventStore;
  state: StateStore;
  stateHandler: StateHandler;
  federationHandler: FederationHandler;
  summaries: RoomSummaryHandler;
  roomList: RoomListHandler;
  e2eKeys: E2eKeysHandler;
  /** our server name, as the `origin` of what we serve */
  serverName: string;
  /** told when a room has new staged events to process */
  onStaged?: (roomId: string) => void;
  /** counts what new transactions bring (Synapse's received_pdus / received_edus counters) */
  metrics?: Pick<FederationMetrics, "receivedPdus" | "receivedEdus">;
  now?: () => number;
}

export class FederationServer {
  private readonly now: () => number;

  constructor(private readonly o: FederationServerOptions) {
    this.now = o.now ?? Date.now;
  }

  register(transport: TransportLayerServer): void {
    const V1 = "/_matrix/federation/v1";
    const V2 = "/_matrix/federation/v2";
    transport.add("PUT", `${V1}/send/:txnId`, async (ctx) => {
      const response = await this.onIncomingTransaction(ctx.auth.origin, ctx.params.txnId!, ctx.auth.content);
      return { status: response.code, body: response.body };
    }, { maxBodyBytes: MAX_TRANSACTION_BYTES });

    transport.add("GET", `${V1}/state/:roomId`, async (ctx) =>
      ({ body: await this.onStateRequest(ctx.auth.origin, ctx.params.roomId!, requiredQuery(ctx.query, "event_id"), false) }));
    transport.add("GET", `${V1}/state_ids/:roomId`, async (ctx) =>
      ({ body: await this.onStateRequest(ctx.auth.origin, ctx.params.roomId!, requiredQuery(ctx.query, "event_id"), true) }));
    transport.add("GET", `${V1}/event/:eventId`, async (ctx) => ({ body: await this.onEventRequest(ctx.auth.origin, ctx.params.eventId!) }));
    transport.add("GET", `${V1}/event_auth/:roomId/:eventId`, async (ctx) =>
      ({ body: await this.onEventAuthRequest(ctx.auth.origin, ctx.params.roomId!, ctx.params.eventId!) }));
    transport.add("GET", `${V1}/backfill/:roomId`, async (ctx) => {
      const from = ctx.query.getAll("v");
      if (from.length === 0) throw missingParam("Missing v");
      const limit = Number.parseInt(requiredQuery(ctx.query, "limit"), 10);
      if (!Number.isInteger(limit) || limit < 0) throw new MatrixError(400, "M_INVALID_PARAM", "limit must be a non-negative integer");
      return { body: await this.onBackfillRequest(ctx.auth.origin, ctx.params.roomId!, from, limit) };
    });
    transport.add("POST", `${V1}/get_missing_events/:roomId`, async (ctx) =>
      ({ body: await this.onGetMissingEvents(ctx.auth.origin, ctx.params.roomId!, ctx.auth.content) }));

    const membership = this.o.federationHandler;
    transport.add("GET", `${V1}/make_join/:roomId/:userId`, async (ctx) =>
      ({ body: await membership.onMakeMembership(ctx.auth.origin, ctx.params.roomId!, ctx.params.userId!, "join", ctx.query.getAll("ver")) }));
    // omit_members may ask for a partial-state join; we always send the full state, with members_omitted false.
    transport.add("PUT", `${V2}/send_join/:roomId/:eventId`, async (ctx) =>
      ({ body: await membership.onSendJoin(ctx.auth.origin, ctx.params.roomId!, ctx.params.eventId!, ctx.auth.content) }));
    transport.add("GET", `${V1}/make_leave/:roomId/:userId`, async (ctx) =>
      ({ body: await membership.onMakeMembership(ctx.auth.origin, ctx.params.roomId!, ctx.params.userId!, "leave") }));
    transport.add("PUT", `${V2}/send_leave/:roomId/:eventId`, async (ctx) =>
      ({ body: await membership.onSendLeave(ctx.auth.origin, ctx.params.roomId!, ctx.params.eventId!, ctx.auth.content) }));
    transport.add("GET", `${V1}/make_knock/:roomId/:userId`, async (ctx) =>
      ({ body: await membership.onMakeMembership(ctx.auth.origin, ctx.params.roomId!, ctx.params.userId!, "knock", ctx.query.getAll("ver")) }));
    transport.add("PUT", `${V1}/send_knock/:roomId/:eventId`, async (ctx) =>
      ({ body: await membership.onSendKnock(ctx.auth.origin, ctx.params.roomId!, ctx.params.eventId!, ctx.auth.content) }));
    // The v1 invite answers with the historical [200, body] pair.
    transport.add("PUT", `${V1}/invite/:roomId/:eventId`, async (ctx) =>
      ({ body: [200, { event: await membership.onInvite(ctx.auth.origin, ctx.params.roomId!, ctx.params.eventId!, ctx.auth.content, 1) }] }));
    transport.add("PUT", `${V2}/invite/:roomId/:eventId`, async (ctx) =>
      ({ body: { event: await membership.onInvite(ctx.auth.origin, ctx.params.roomId!, ctx.params.eventId!, ctx.auth.content, 2) } }), { maxBodyBytes: 4 * MAX_PDU_BYTES });

    transport.add("GET", `${V1}/query/:queryType`, async (ctx) => {
      const handler = this.o.registry.queryHandler(ctx.params.queryType!);
      if (!handler) throw new MatrixError(404, "M_UNRECOGNIZED", `Unknown query type ${ctx.params.queryType}`);
      return { body: await handler(ctx.auth.origin, ctx.query) };
    });
    transport.add("GET", `${V1}/publicRooms`, async (ctx) =>
      ({ body: await this.o.roomList.getPublicRooms(parseRequest(publicRoomsRequestSchema, Object.fromEntries(ctx.query))) }));
    transport.add("POST", `${V1}/publicRooms`, async (ctx) =>
      ({ body: await this.o.roomList.getPublicRooms(parseRequest(publicRoomsRequestSchema, ctx.auth.content ?? {})) }));
    transport.add("GET", `${V1}/hierarchy/:roomId`, async (ctx) =>
      ({ body: await this.o.summaries.onHierarchy(ctx.auth.origin, ctx.params.roomId!, ctx.query.get("suggested_only") === "true") }));
    transport.add("GET", `${V1}/user/devices/:userId`, async (ctx) => ({ body: await this.o.e2eKeys.onUserDevices(ctx.params.userId!) }));
    transport.add("POST", `${V1}/user/keys/query`, async (ctx) => ({ body: await this.o.e2eKeys.onQueryKeys(ctx.auth.content) }));
    transport.add("POST", `${V1}/user/keys/claim`, async (ctx) => ({ body: await this.o.e2eKeys.onClaimKeys(ctx.auth.content) }));
  }

  /** 404 for a room we do not know, 403 for a server with no member in it (spec, for every room read). */
  private async assertServerInRoom(origin: string, roomId: string): Promise<void> {
    if ((await this.o.rooms.getRoomVersion(roomId)) === null) throw notFound(`Unknown room ${roomId}`);
    if (!(await this.o.state.currentJoinedHosts(roomId)).has(origin)) throw forbidden("Host not in room");
  }

  /** An accepted event of the room that we hold, else 404. */
  private async roomEvent(roomId: string, eventId: string, { timeline }: { timeline: boolean }): Promise<StoredEvent> {
    const event = await this.o.events.getEvent(eventId);
    if (!event || event.roomId !== roomId || event.rejectedReason !== null || (timeline && event.outlier)) throw notFound(`Unknown event ${eventId}`);
    return event;
  }

  private async pdusOf(ids: Iterable<string>): Promise<Pdu[]> {
    const events = await this.o.events.getEvents(ids);
    return [...events.values()].filter((e) => e.rejectedReason === null).map((e) => e.pdu);
  }

  /** /state and /state_ids: the state before the event and the auth chain of that state. */
  async onStateRequest(origin: string, roomId: string, eventId: string, idsOnly: boolean): Promise<unknown> {
    await this.assertServerInRoom(origin, roomId);
    await this.roomEvent(roomId, eventId, { timeline: true });
    const state = await this.o.stateHandler.stateBeforeEvent(eventId);
    if (!state) throw notFound(`No state is known at ${eventId}`);
    const stateIds = [...state.values()];
    const authChainIds = [...(await this.o.events.getAuthChainIds(stateIds))];
    if (idsOnly) return { pdu_ids: stateIds, auth_chain_ids: authChainIds };
    return { pdus: await this.pdusOf(stateIds), auth_chain: await this.pdusOf(authChainIds) };
  }

  /** /event: one event, for a server in its room (now, or when the event happened). */
  async onEventRequest(origin: string, eventId: string): Promise<unknown> {
    const event = await this.o.events.getEvent(eventId);
    if (!event || event.rejectedReason !== null) throw notFound(`Unknown event ${eventId}`);
    const inRoom = (await this.o.state.currentJoinedHosts(event.roomId)).has(origin)
      || ((await this.o.state.joinedHostsAtEvent(eventId))?.has(origin) ?? false);
    if (!inRoom) throw forbidden("Host not in room");
    return { origin: this.o.serverName, origin_server_ts: this.now(), pdus: [event.pdu] };
  }

  /** /event_auth: the event's full auth chain. */
  async onEventAuthRequest(origin: string, roomId: string, eventId: string): Promise<unknown> {
    await this.assertServerInRoom(origin, roomId);
    await this.roomEvent(roomId, eventId, { timeline: false });
    return { auth_chain: await this.pdusOf(await this.o.events.getAuthChainIds([eventId])) };
  }

  /** /backfill: older events from `from` back, as a transaction. */
  async onBackfillRequest(origin: string, roomId: string, from: string[], limit: number): Promise<unknown> {
    await this.assertServerInRoom(origin, roomId);
    const events = await this.o.events.getBackfillEvents(roomId, from, Math.min(limit, MAX_BACKFILL));
    return {
      origin: this.o.serverName,
      origin_server_ts: this.now(),
      pdus: events.filter((e) => e.rejectedReason === null).map((e) => e.pdu),
    };
  }

  /** /get_missing_events: the events between what the requester has and what it lacks. */
  async onGetMissingEvents(origin: string, roomId: string, body: unknown): Promise<unknown> {
    await this.assertServerInRoom(origin, roomId);
    const request = parseRequest(missingEventsSchema, body);
    const limit = Math.min(request.limit ?? 10, MAX_MISSING_EVENTS);
    const events = await this.o.events.getMissingEvents(roomId, request.earliest_events, request.latest_events, limit, request.min_depth ?? 0);
    return { events: events.filter((e) => e.rejectedReason === null).map((e) => e.pdu) };
  }

  async onIncomingTransaction(origin: string, txnId: string, content: unknown): Promise<TransactionResponse> {
    if (!TXN_ID.test(txnId)) throw badJson("Invalid transaction ID");
    const parsed = transactionSchema.safeParse(content);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw badJson(`Invalid transaction: ${issue.path.join(".") || "body"} ${issue.message}`);
    }
    const txn = parsed.data;
    const edus = txn.edus ?? [];
    if (txn.pdus.length > MAX_PDUS_PER_TRANSACTION || edus.length > MAX_EDUS_PER_TRANSACTION) {
      throw badJson(`Too many PDUs or EDUs: got ${txn.pdus.length} and ${edus.length}, at most ${MAX_PDUS_PER_TRANSACTION} and ${MAX_EDUS_PER_TRANSACTION}`);
    }
    return this.o.transactions.run(origin, txnId, async () => {
      const started = this.now();
      this.o.metrics?.receivedPdus.inc(txn.pdus.length);
      this.o.metrics?.receivedEdus.inc(edus.length);
      const pdus: Record<string, PduResult> = {};
      const staged: StagedPdu[] = [];
      for (const handled of await Promise.all(txn.pdus.map((raw) => this.checkIncomingPdu(origin, raw)))) {
        if (!handled) continue;
        pdus[handled.eventId] = handled.result;
        if (handled.staged) staged.push(handled.staged);
      }
      // One write for the transaction's PDUs, in their order; each room's worker is told once they are safe.
      await this.o.staging.stage(staged);
      for (const roomId of new Set(staged.map((s) => s.roomId))) this.o.onStaged?.(roomId);
      const eduLog: LoggedEdu[] = [];
      for (const raw of edus) {
        const edu = eduSchema.safeParse(raw);
        if (!edu.success) {
          eduLog.push({ eduType: "(malformed)", content: safeJson(raw), outcome: "rejected: not an EDU" });
          continue;
        }
        const outcome = await this.o.registry.onEdu(origin, edu.data.edu_type, edu.data.content);
        eduLog.push({ eduType: edu.data.edu_type, content: safeJson(edu.data.content), outcome });
      }
      this.o.log.debug("received transaction", { origin, txn: txnId, pdus: txn.pdus.length, edus: edus.length, ms: this.now() - started });
      return { response: { code: 200, body: { pdus } }, pduCount: txn.pdus.length, eduCount: edus.length, edus: eduLog };
    });
  }

  /**
   * Checks one PDU. Returns null for a PDU that cannot be identified or is for a room we do not know (Synapse
   * ignores those too); otherwise its event ID, its result and, when it passed, what to stage.
   */
  private async checkIncomingPdu(origin: string, raw: unknown): Promise<{ eventId: string; result: PduResult; staged?: StagedPdu } | null> {
    let roomId: string;
    let version: RoomVersion;
    try {
      const pdu = parsePdu(raw);
      if (typeof pdu.room_id !== "string") return null;
      roomId = pdu.room_id;
      const versionId = await this.o.rooms.getRoomVersion(roomId);
      if (versionId === null) {
        this.o.log.debug("ignoring PDU for unknown room", { origin, room_id: roomId });
        return null;
      }
      version = getRoomVersion(versionId);
    } catch (e) {
      this.o.log.info("ignoring unidentifiable PDU", { origin, reason: (e as Error).message });
      return null;
    }
    const check = await checkPdu(raw, version, this.o.keyring);
    if (!check.ok) {
      if (check.eventId === undefined) {
        this.o.log.info("ignoring unidentifiable PDU", { origin, reason: check.reason });
        return null;
      }
      this.o.log.info("PDU failed the receipt checks", { origin, event_id: check.eventId, reason: check.reason });
      return { eventId: check.eventId, result: { error: check.reason } };
    }
    return {
      eventId: check.eventId,
      result: {},
      staged: { origin, roomId, eventId: check.eventId, receivedTs: this.now(), eventJson: JSON.stringify(check.event), redacted: check.redacted },
    };
  }
}

function requiredQuery(query: URLSearchParams, name: string): string {
  const value = query.get(name);
  if (value === null || value === "") throw missingParam(`Missing ${name}`);
  return value;
}

function parseRequest<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw badJson(`Invalid request: ${issue.path.join(".") || "body"} ${issue.message}`);
  }
  return parsed.data;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "null";
  } catch {
    return "(unserializable)";
  }
}
