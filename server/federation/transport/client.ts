/**
 * TransportLayerClient: one typed method per server-server endpoint (Synapse's federation/transport/client.py).
 * Paths are built with percent-encoded segments; responses are checked with zod (loose objects: the spec lets
 * servers add fields) and a mismatch is a FederationRequestError of class "invalid_response". Each method picks the
 * retry and backoff behaviour Synapse uses for that endpoint; callers may override it per call.
 */
import { z } from "zod";
import type { JsonObject, JsonValue } from "../../crypto";
import { FederationRequestError } from "./errors";
import type { FederationRequestOptions, MatrixFederationClient, RawResponse } from "./http-client";
import { MultipartError, parseMultipart } from "./multipart";

const FEDERATION_V1 = "/_matrix/federation/v1";
const FEDERATION_V2 = "/_matrix/federation/v2";
const ACCOUNT_STATUS_PATH = "/_matrix/federation/unstable/org.matrix.msc3720/account_status";
/** Synapse's MAX_RESPONSE_SIZE_SEND_JOIN: the state of a large room is big. */
const MAX_SEND_JOIN_RESPONSE_BYTES = 500 * 1024 * 1024;
/** Synapse fetches keys with a 10 s timeout and regardless of backoff: without keys nothing can be verified. */
const KEY_REQUEST_OPTIONS: FederationRequestOptions = { ignoreBackoff: true, countFailures: false, timeoutMs: 10_000 };

const seg = encodeURIComponent;

const isJsonObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
/** A PDU or other signed object: only its shape is checked here, and the original object is kept (signatures). */
const jsonObject = z.custom<JsonObject>(isJsonObject, "expected a JSON object");
const pdus = z.array(jsonObject);
const stringList = z.array(z.string());

const transactionSchema = z.looseObject({ origin: z.string(), origin_server_ts: z.number(), pdus });
const sendTransactionSchema = z.looseObject({
  // Some servers answer {} when every PDU was accepted.
  pdus: z.record(z.string(), z.looseObject({ error: z.string().optional() })).optional(),
});
const stateSchema = z.looseObject({ pdus, auth_chain: pdus });
const stateIdsSchema = z.looseObject({ pdu_ids: stringList, auth_chain_ids: stringList });
const eventAuthSchema = z.looseObject({ auth_chain: pdus });
const missingEventsSchema = z.looseObject({ events: pdus });
const makeMembershipSchema = z.looseObject({ event: jsonObject, room_version: z.string().optional() });
const sendJoinSchema = z.looseObject({
  origin: z.string(),
  auth_chain: pdus,
  state: pdus,
  event: jsonObject.optional(),
  members_omitted: z.boolean().optional(),
  servers_in_room: stringList.optional(),
});
const emptySchema = z.looseObject({});
const inviteV1Schema = z.tuple([z.number(), z.looseObject({ event: jsonObject })]);
const inviteV2Schema = z.looseObject({ event: jsonObject });
const makeKnockSchema = z.looseObject({ event: jsonObject, room_version: z.string() });
// knock_room_state replaced knock_state_events (spec v1.x); accept either.
const sendKnockSchema = z.looseObject({ knock_room_state: pdus.optional(), knock_state_events: pdus.optional() });
const directorySchema = z.looseObject({ room_id: z.string(), servers: stringList });
const profileSchema = z.looseObject({ displayname: z.string().nullish(), avatar_url: z.string().nullish() });
const userDevicesSchema = z.looseObject({
  user_id: z.string(),
  stream_id: z.number(),
  devices: z.array(z.looseObject({ device_id: z.string(), keys: jsonObject, device_display_name: z.string().optional() })),
  master_key: jsonObject.optional(),
  self_signing_key: jsonObject.optional(),
});
const keysQuerySchema = z.looseObject({
  device_keys: z.record(z.string(), z.record(z.string(), jsonObject)),
  master_keys: z.record(z.string(), jsonObject).optional(),
  self_signing_keys: z.record(z.string(), jsonObject).optional(),
});
const keysClaimSchema = z.looseObject({
  one_time_keys: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.custom<JsonValue>(() => true)))),
});
const publicRoomsSchema = z.looseObject({
  chunk: z.array(
    z.looseObject({ room_id: z.string(), num_joined_members: z.number(), world_readable: z.boolean(), guest_can_join: z.boolean() }),
  ),
  next_batch: z.string().optional(),
  prev_batch: z.string().optional(),
  total_room_count_estimate: z.number().optional(),
});
const hierarchySchema = z.looseObject({
  room: z.looseObject({ room_id: z.string(), children_state: pdus }),
  children: z.array(z.looseObject({ room_id: z.string() })),
  inaccessible_children: stringList,
});
const versionSchema = z.looseObject({ server: z.looseObject({ name: z.string().optional(), version: z.string().optional() }) });
const serverKeysSchema = z.looseObject({
  server_name: z.string(),
  valid_until_ts: z.number(),
  verify_keys: z.record(z.string(), z.looseObject({ key: z.string() })),
});
const notarySchema = z.looseObject({ server_keys: z.array(jsonObject) });
const accountStatusSchema = z.looseObject({
  account_statuses: z.record(z.string(), z.looseObject({ exists: z.boolean(), deactivated: z.boolean().optional() })),
  failures: stringList.optional(),
});

export type Pdu = JsonObject;
export type Transaction = z.infer<typeof transactionSchema>;
export type SendTransactionResponse = { pdus: Record<string, { error?: string }> };
export type StateResponse = z.infer<typeof stateSchema>;
export type StateIdsResponse = z.infer<typeof stateIdsSchema>;
export type MakeMembershipResponse = z.infer<typeof makeMembershipSchema>;
export type SendJoinResponse = z.infer<typeof sendJoinSchema>;
export type MakeKnockResponse = z.infer<typeof makeKnockSchema>;
export type DirectoryResponse = z.infer<typeof directorySchema>;
export type ProfileResponse = z.infer<typeof profileSchema>;
export type UserDevicesResponse = z.infer<typeof userDevicesSchema>;
export type KeysQueryResponse = z.infer<typeof keysQuerySchema>;
export type KeysClaimResponse = z.infer<typeof keysClaimSchema>;
export type PublicRoomsResponse = z.infer<typeof publicRoomsSchema>;
export type HierarchyResponse = z.infer<typeof hierarchySchema>;
export type VersionResponse = z.infer<typeof versionSchema>;
export type AccountStatusResponse = { account_statuses: Record<string, { exists: boolean; deactivated?: boolean }>; failures: string[] };

export interface TransactionBody {
  origin: string;
  origin_server_ts: number;
  pdus: Pdu[];
  edus: JsonObject[];
}

export interface GetMissingEventsBody {
  earliest_events: string[];
  latest_events: string[];
  limit?: number;
  min_depth?: number;
}

export interface PublicRoomsQuery {
  limit?: number;
  since?: string;
  include_all_networks?: boolean;
  third_party_instance_id?: string;
  /** given: POST with a filter; absent: GET */
  filter?: { generic_search_term?: string; room_types?: Array<string | null> };
}

/** POST /_matrix/key/v2/query body: server → key ID → criteria (an empty key map asks for all keys). */
export type NotaryQueryRequest = Record<string, Record<string, { minimum_valid_until_ts?: number }>>;

export type FederationMedia =
  | { kind: "content"; metadata: JsonObject; contentType: string | undefined; contentDisposition: string | undefined; body: Buffer }
  /** the media lives elsewhere: fetch it (through the IP filter) from `location` */
  | { kind: "location"; metadata: JsonObject; location: string };

export interface ThumbnailRequest {
  width: number;
  height: number;
  method?: "crop" | "scale";
  animated?: boolean;
}

export interface MediaOptions extends FederationRequestOptions {
  /** how long the remote may wait for an upload still in progress (spec `timeout_ms`) */
  remoteTimeoutMs?: number;
}

export interface SendJoinOptions extends FederationRequestOptions {
  omitMembers?: boolean;
}

type Http = Pick<MatrixFederationClient, "getJson" | "putJson" | "postJson" | "getRaw">;

export class TransportLayerClient {
  constructor(private readonly http: Http) {}

  /** PUT /v1/send/{txnId}. Every non-2xx counts against the destination (DESIGN.md §5); long retries, as Synapse. */
  async sendTransaction(destination: string, txnId: string, body: TransactionBody, options?: FederationRequestOptions): Promise<SendTransactionResponse> {
    const raw = await this.http.putJson(destination, `${FEDERATION_V1}/send/${seg(txnId)}`, body as unknown as JsonValue, {
      longRetries: true,
      backoffOnAllErrorCodes: true,
      ...options,
    });
    const parsed = validate(destination, "send", sendTransactionSchema, raw);
    return { pdus: parsed.pdus ?? {} };
  }

  async getRoomState(destination: string, roomId: string, eventId: string, options?: FederationRequestOptions): Promise<StateResponse> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/state/${seg(roomId)}`, { query: { event_id: eventId }, ...options });
    return validate(destination, "state", stateSchema, raw);
  }

  async getRoomStateIds(destination: string, roomId: string, eventId: string, options?: FederationRequestOptions): Promise<StateIdsResponse> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/state_ids/${seg(roomId)}`, { query: { event_id: eventId }, ...options });
    return validate(destination, "state_ids", stateIdsSchema, raw);
  }

  /** GET /v1/event/{eventId}: a transaction holding the one PDU. */
  async getEvent(destination: string, eventId: string, options?: FederationRequestOptions): Promise<Transaction> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/event/${seg(eventId)}`, options);
    return validate(destination, "event", transactionSchema, raw);
  }

  async getEventAuth(destination: string, roomId: string, eventId: string, options?: FederationRequestOptions): Promise<Pdu[]> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/event_auth/${seg(roomId)}/${seg(eventId)}`, options);
    return validate(destination, "event_auth", eventAuthSchema, raw).auth_chain;
  }

  async backfill(destination: string, roomId: string, eventIds: string[], limit: number, options?: FederationRequestOptions): Promise<Transaction> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/backfill/${seg(roomId)}`, { query: { v: eventIds, limit }, ...options });
    return validate(destination, "backfill", transactionSchema, raw);
  }

  /** POST /v1/get_missing_events/{roomId}; a read, so retried like a GET. */
  async getMissingEvents(destination: string, roomId: string, body: GetMissingEventsBody, options?: FederationRequestOptions): Promise<Pdu[]> {
    const raw = await this.http.postJson(destination, `${FEDERATION_V1}/get_missing_events/${seg(roomId)}`, body as unknown as JsonValue, {
      retry: true,
      ...options,
    });
    return validate(destination, "get_missing_events", missingEventsSchema, raw).events;
  }

  /** GET /v1/make_join; like Synapse, joins are attempted even while the server is backing off. */
  async makeJoin(destination: string, roomId: string, userId: string, supportedVersions: string[], options?: FederationRequestOptions): Promise<MakeMembershipResponse> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/make_join/${seg(roomId)}/${seg(userId)}`, {
      query: { ver: supportedVersions },
      ignoreBackoff: true,
      ...options,
    });
    return validate(destination, "make_join", makeMembershipSchema, raw);
  }

  /** PUT /v2/send_join; `omitMembers` asks for a partial-state join (MSC3706, `omit_members`). */
  async sendJoin(destination: string, roomId: string, eventId: string, event: Pdu, options: SendJoinOptions = {}): Promise<SendJoinResponse> {
    const { omitMembers, ...rest } = options;
    const raw = await this.http.putJson(destination, `${FEDERATION_V2}/send_join/${seg(roomId)}/${seg(eventId)}`, event, {
      query: { omit_members: omitMembers ? "true" : undefined },
      retry: true,
      maxResponseBytes: MAX_SEND_JOIN_RESPONSE_BYTES,
      ...rest,
    });
    return validate(destination, "send_join", sendJoinSchema, raw);
  }

  async makeLeave(destination: string, roomId: string, userId: string, options?: FederationRequestOptions): Promise<MakeMembershipResponse> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/make_leave/${seg(roomId)}/${seg(userId)}`, options);
    return validate(destination, "make_leave", makeMembershipSchema, raw);
  }

  async sendLeave(destination: string, roomId: string, eventId: string, event: Pdu, options?: FederationRequestOptions): Promise<void> {
    const raw = await this.http.putJson(destination, `${FEDERATION_V2}/send_leave/${seg(roomId)}/${seg(eventId)}`, event, { retry: true, ...options });
    validate(destination, "send_leave", emptySchema, raw);
  }

  /** PUT /v1/invite (room versions 1 and 2 only); the response is the odd `[200, {event}]` pair. */
  async inviteV1(destination: string, roomId: string, eventId: string, event: Pdu, options?: FederationRequestOptions): Promise<Pdu> {
    const raw = await this.http.putJson(destination, `${FEDERATION_V1}/invite/${seg(roomId)}/${seg(eventId)}`, event, { retry: true, ...options });
    return validate(destination, "invite v1", inviteV1Schema, raw)[1].event;
  }

  async inviteV2(
    destination: string,
    roomId: string,
    eventId: string,
    body: { event: Pdu; room_version: string; invite_room_state?: JsonObject[] },
    options?: FederationRequestOptions,
  ): Promise<Pdu> {
    const raw = await this.http.putJson(destination, `${FEDERATION_V2}/invite/${seg(roomId)}/${seg(eventId)}`, body as unknown as JsonValue, {
      retry: true,
      ...options,
    });
    return validate(destination, "invite v2", inviteV2Schema, raw).event;
  }

  async makeKnock(destination: string, roomId: string, userId: string, supportedVersions: string[], options?: FederationRequestOptions): Promise<MakeKnockResponse> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/make_knock/${seg(roomId)}/${seg(userId)}`, {
      query: { ver: supportedVersions },
      ...options,
    });
    return validate(destination, "make_knock", makeKnockSchema, raw);
  }

  /** PUT /v1/send_knock; returns the stripped room state the knocking user may see. */
  async sendKnock(destination: string, roomId: string, eventId: string, event: Pdu, options?: FederationRequestOptions): Promise<JsonObject[]> {
    const raw = await this.http.putJson(destination, `${FEDERATION_V1}/send_knock/${seg(roomId)}/${seg(eventId)}`, event, { retry: true, ...options });
    const parsed = validate(destination, "send_knock", sendKnockSchema, raw);
    const state = parsed.knock_room_state ?? parsed.knock_state_events;
    if (!state) throw invalid(destination, "send_knock", "knock_room_state: missing");
    return state;
  }

  async queryDirectory(destination: string, roomAlias: string, options?: FederationRequestOptions): Promise<DirectoryResponse> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/query/directory`, { query: { room_alias: roomAlias }, ...options });
    return validate(destination, "query/directory", directorySchema, raw);
  }

  async queryProfile(destination: string, userId: string, field?: "displayname" | "avatar_url", options?: FederationRequestOptions): Promise<ProfileResponse> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/query/profile`, { query: { user_id: userId, field }, ...options });
    return validate(destination, "query/profile", profileSchema, raw);
  }

  async getUserDevices(destination: string, userId: string, options?: FederationRequestOptions): Promise<UserDevicesResponse> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/user/devices/${seg(userId)}`, options);
    return validate(destination, "user/devices", userDevicesSchema, raw);
  }

  /** POST /v1/user/keys/query: user → device IDs (empty: all devices). A read, so retried. */
  async queryUserKeys(destination: string, deviceKeys: Record<string, string[]>, options?: FederationRequestOptions): Promise<KeysQueryResponse> {
    const raw = await this.http.postJson(destination, `${FEDERATION_V1}/user/keys/query`, { device_keys: deviceKeys }, { retry: true, ...options });
    return validate(destination, "user/keys/query", keysQuerySchema, raw);
  }

  /** POST /v1/user/keys/claim: user → device → algorithm. Not retried: a claim consumes one-time keys. */
  async claimUserKeys(destination: string, oneTimeKeys: Record<string, Record<string, string>>, options?: FederationRequestOptions): Promise<KeysClaimResponse> {
    const raw = await this.http.postJson(destination, `${FEDERATION_V1}/user/keys/claim`, { one_time_keys: oneTimeKeys }, options);
    return validate(destination, "user/keys/claim", keysClaimSchema, raw);
  }

  async getPublicRooms(destination: string, query: PublicRoomsQuery = {}, options?: FederationRequestOptions): Promise<PublicRoomsResponse> {
    const path = `${FEDERATION_V1}/publicRooms`;
    const { filter, ...params } = query;
    const raw = filter
      ? await this.http.postJson(destination, path, { ...params, filter } as unknown as JsonValue, { retry: true, ...options })
      : await this.http.getJson(destination, path, { query: params, ...options });
    return validate(destination, "publicRooms", publicRoomsSchema, raw);
  }

  async getRoomHierarchy(destination: string, roomId: string, suggestedOnly = false, options?: FederationRequestOptions): Promise<HierarchyResponse> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/hierarchy/${seg(roomId)}`, {
      query: { suggested_only: suggestedOnly ? "true" : "false" },
      ...options,
    });
    return validate(destination, "hierarchy", hierarchySchema, raw);
  }

  async getServerVersion(destination: string, options?: FederationRequestOptions): Promise<VersionResponse> {
    const raw = await this.http.getJson(destination, `${FEDERATION_V1}/version`, options);
    return validate(destination, "version", versionSchema, raw);
  }

  /** GET /_matrix/key/v2/server: the server's own signed key response (the Keyring verifies it). */
  async fetchServerKeys(serverName: string, options?: FederationRequestOptions): Promise<JsonObject> {
    const raw = await this.http.getJson(serverName, "/_matrix/key/v2/server", { ...KEY_REQUEST_OPTIONS, ...options });
    validate(serverName, "key/v2/server", serverKeysSchema, raw);
    return raw as JsonObject;
  }

  /** POST /_matrix/key/v2/query on a notary; returns its `server_keys` array as sent. */
  async queryNotary(notary: string, request: NotaryQueryRequest, options?: FederationRequestOptions): Promise<JsonObject[]> {
    const raw = await this.http.postJson(notary, "/_matrix/key/v2/query", { server_keys: request }, { ...KEY_REQUEST_OPTIONS, retry: true, ...options });
    return validate(notary, "key/v2/query", notarySchema, raw).server_keys;
  }

  /** GET /_matrix/key/v2/query/{serverName} on a notary: all of one server's keys. */
  async queryNotaryForServer(notary: string, serverName: string, minimumValidUntilTs?: number, options?: FederationRequestOptions): Promise<JsonObject[]> {
    const raw = await this.http.getJson(notary, `/_matrix/key/v2/query/${seg(serverName)}`, {
      ...KEY_REQUEST_OPTIONS,
      query: { minimum_valid_until_ts: minimumValidUntilTs },
      ...options,
    });
    return validate(notary, "key/v2/query", notarySchema, raw).server_keys;
  }

  /** GET /v1/media/download/{mediaId}: multipart/mixed with a metadata part and the media (or a Location). */
  async downloadMedia(destination: string, mediaId: string, options: MediaOptions = {}): Promise<FederationMedia> {
    const { remoteTimeoutMs, ...rest } = options;
    const response = await this.http.getRaw(destination, `${FEDERATION_V1}/media/download/${seg(mediaId)}`, {
      query: { timeout_ms: remoteTimeoutMs },
      ...rest,
    });
    return parseMediaResponse(destination, response);
  }

  async getMediaThumbnail(destination: string, mediaId: string, request: ThumbnailRequest, options: MediaOptions = {}): Promise<FederationMedia> {
    const { remoteTimeoutMs, ...rest } = options;
    const response = await this.http.getRaw(destination, `${FEDERATION_V1}/media/thumbnail/${seg(mediaId)}`, {
      query: {
        width: request.width,
        height: request.height,
        method: request.method,
        animated: request.animated,
        timeout_ms: remoteTimeoutMs,
      },
      ...rest,
    });
    return parseMediaResponse(destination, response);
  }

  /** POST account_status under the unstable MSC3720 prefix. */
  async getAccountStatus(destination: string, userIds: string[], options?: FederationRequestOptions): Promise<AccountStatusResponse> {
    const raw = await this.http.postJson(destination, ACCOUNT_STATUS_PATH, { user_ids: userIds }, { retry: true, ...options });
    const parsed = validate(destination, "account_status", accountStatusSchema, raw);
    return { account_statuses: parsed.account_statuses, failures: parsed.failures ?? [] };
  }
}

function invalid(destination: string, endpoint: string, problem: string): FederationRequestError {
  return new FederationRequestError("invalid_response", destination, `invalid ${endpoint} response from ${destination}: ${problem}`);
}

function validate<S extends z.ZodType>(destination: string, endpoint: string, schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const at = issue.path.length ? issue.path.join(".") : "(body)";
  throw invalid(destination, endpoint, `${at}: ${issue.message}`);
}

/** Splits a federation media response into its metadata and the media or its Location. */
export function parseMediaResponse(destination: string, response: RawResponse): FederationMedia {
  const contentType = ([] as string[]).concat(response.headers["content-type"] ?? [])[0];
  let parts;
  try {
    parts = parseMultipart(contentType, response.body);
  } catch (e) {
    if (e instanceof MultipartError) throw invalid(destination, "media", e.message);
    throw e;
  }
  if (parts.length !== 2) throw invalid(destination, "media", `expected 2 multipart parts, got ${parts.length}`);
  const [meta, media] = parts as [(typeof parts)[0], (typeof parts)[0]];
  let metadata: unknown;
  try {
    metadata = JSON.parse(meta.body.toString("utf8"));
  } catch {
    throw invalid(destination, "media", "the metadata part is not JSON");
  }
  if (!isJsonObject(metadata)) throw invalid(destination, "media", "the metadata part is not a JSON object");
  const location = media.headers.location;
  if (location !== undefined) return { kind: "location", metadata, location };
  return {
    kind: "content",
    metadata,
    contentType: media.headers["content-type"],
    contentDisposition: media.headers["content-disposition"],
    body: media.body,
  };
}
