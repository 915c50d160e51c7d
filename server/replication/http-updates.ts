/**
 * Reading missed stream rows from their writer over HTTP (Synapse: make_http_update_function and
 * synapse/replication/http/streams.py), both sides:
 *   GET /_synapse/replication/get_repl_stream_updates/<stream>/<txn_id>?from_token=F&upto_token=U
 *   Authorization: Bearer <worker_replication_secret>
 *   → {"updates": [[token, row], ...], "upto_token": T, "limited": bool}
 * The writer reads about 100 rows a call; while `limited`, the caller asks again from `upto_token`. Synapse's
 * client adds a random txn_id segment (responses are cached per txn_id); the route accepts it or its absence.
 * Each instance's replication address comes from `instance_map` (Synapse's setting of the same name).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Agent, request, type Dispatcher } from "undici";
import { z } from "zod";
import type { Token } from "./commands";
import { getUpdatesSince, type StreamUpdateResult, type StreamWriter, type UpdateFunction } from "./streams/base";
import { readBodyWithMaxSize } from "../federation/transport/read-body";
import { MatrixError, forbidden, invalidParam, missingParam } from "../http/matrix-error";
import type { Authenticator, RequestInfo, Router } from "../http/router";

export const GET_REPL_STREAM_UPDATES_PATH = "/_synapse/replication/get_repl_stream_updates";

export interface InstanceAddress {
  host: string;
  port: number;
  /** https instead of http */
  tls?: boolean;
}

/** instance name → where its replication endpoints listen */
export type InstanceMap = Readonly<Record<string, InstanceAddress>>;

export class ReplicationHttpError extends Error {
  constructor(message: string, readonly status?: number, readonly errcode?: string) {
    super(message);
    this.name = "ReplicationHttpError";
  }
}

const updatesResponseSchema = z.object({
  updates: z.array(z.tuple([z.number().int(), z.json()])),
  upto_token: z.number().int(),
  limited: z.boolean(),
});

const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export interface ReplicationHttpClientOptions {
  instanceMap: InstanceMap;
  /** worker_replication_secret; sent as a Bearer token */
  secret: string | undefined;
  /** our own name: asking ourselves is a configuration mistake */
  instanceName: string;
  /** defaults to an agent owned (and closed) by this client */
  dispatcher?: Dispatcher;
  timeoutMs?: number;
}

export class ReplicationHttpClient {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;

  constructor(private readonly options: ReplicationHttpClientOptions) {
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher = options.dispatcher ?? new Agent({ keepAliveTimeout: 30_000, connections: 4 });
  }

  /** Rows of `streamName` written by `instanceName` in (fromToken, uptoToken], one page. */
  async getStreamUpdates(streamName: string, instanceName: string, fromToken: Token, uptoToken: Token): Promise<StreamUpdateResult<unknown>> {
    if (instanceName === this.options.instanceName) throw new ReplicationHttpError("refusing to send a replication request to ourselves");
    const address = this.options.instanceMap[instanceName];
    if (!address) throw new ReplicationHttpError(`instance ${JSON.stringify(instanceName)} is not in instance_map`);
    const host = address.host.includes(":") ? `[${address.host}]` : address.host;
    const txnId = randomBytes(8).toString("hex");
    const url = `${address.tls ? "https" : "http"}://${host}:${address.port}${GET_REPL_STREAM_UPDATES_PATH}/${encodeURIComponent(streamName)}/${txnId}`
      + `?from_token=${fromToken}&upto_token=${uptoToken}`;
    const timeout = this.options.timeoutMs ?? 30_000;
    let status: number;
    let body: Buffer;
    try {
      const res = await request(url, {
        method: "GET",
        dispatcher: this.dispatcher,
        headers: this.options.secret ? { authorization: `Bearer ${this.options.secret}` } : {},
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      status = res.statusCode;
      body = await readBodyWithMaxSize(res.body, MAX_RESPONSE_BYTES, res.headers["content-length"]);
    } catch (e) {
      throw new ReplicationHttpError(`cannot reach ${instanceName} for ${streamName} updates: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch {
      throw new ReplicationHttpError(`${instanceName} answered ${status} with a body that is not JSON`, status);
    }
    if (status !== 200) {
      const error = z.object({ errcode: z.string(), error: z.string().optional() }).safeParse(json);
      throw new ReplicationHttpError(`${instanceName} answered ${status}${error.success ? ` ${error.data.errcode}: ${error.data.error ?? ""}` : ""}`, status, error.success ? error.data.errcode : undefined);
    }
    const parsed = updatesResponseSchema.safeParse(json);
    if (!parsed.success) throw new ReplicationHttpError(`${instanceName} sent a malformed ${streamName} update page: ${parsed.error.issues[0]?.message}`, status);
    return parsed.data;
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}

/** An update function that reads `streamName` from its writer over HTTP (the writer picks the page size). */
export function makeHttpUpdateFunction(client: ReplicationHttpClient, streamName: string): UpdateFunction<unknown> {
  return (instanceName, fromToken, uptoToken) => client.getStreamUpdates(streamName, instanceName, fromToken, uptoToken);
}

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** Checks `Authorization: Bearer <secret>` in constant time: 401 without a Bearer token, 403 with a wrong one. */
export function replicationSecretAuthenticator(secret: string): Authenticator<null> {
  const expected = digest(secret);
  return (info: RequestInfo) => {
    const header = info.headers.authorization;
    const m = typeof header === "string" ? /^Bearer (\S+)$/.exec(header) : null;
    if (!m) throw new MatrixError(401, "M_MISSING_TOKEN", "Missing replication secret");
    if (!timingSafeEqual(digest(m[1]!), expected)) throw forbidden("Invalid replication secret");
    return null;
  };
}

function integerParam(query: URLSearchParams, name: string): number {
  const value = query.get(name);
  if (value === null) throw missingParam(`Missing integer query parameter '${name}'`);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw invalidParam(`Query parameter '${name}' must be an integer`);
  return Number(value);
}

/**
 * Serves get_repl_stream_updates for the streams this process writes, read through each writer's update
 * function as `instanceName` (the writer is always ourselves: callers address us through instance_map).
 */
export function registerReplicationRoutes(router: Router, streams: readonly StreamWriter[], secret: string, instanceName: string): void {
  const authenticate = replicationSecretAuthenticator(secret);
  const writers = new Map(streams.map((w) => [w.stream.name, w]));
  const handler = async (ctx: RequestInfo) => {
    const writer = writers.get(ctx.params.stream!);
    if (!writer) throw new MatrixError(400, "M_UNKNOWN", "Unknown stream");
    const fromToken = integerParam(ctx.query, "from_token");
    const uptoToken = integerParam(ctx.query, "upto_token");
    const result = await getUpdatesSince(writer.updateFunction, instanceName, fromToken, uptoToken);
    return { body: { updates: result.updates, upto_token: result.upto_token, limited: result.limited } };
  };
  router.add("GET", `${GET_REPL_STREAM_UPDATES_PATH}/:stream`, { authenticate, maxBodyBytes: 0 }, handler);
  router.add("GET", `${GET_REPL_STREAM_UPDATES_PATH}/:stream/:txnId`, { authenticate, maxBodyBytes: 0 }, handler);
}
