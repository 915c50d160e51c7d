/**
 * MatrixFederationClient: every outbound server-server HTTP request goes through here. It resolves the destination
 * (discovery.ts), keeps a keep-alive undici Pool per destination whose sockets come from the safe connector (IP
 * range filter, SNI, certificate checks), signs each request with X-Matrix, enforces timeouts and a response size
 * cap, retries where that is safe (Synapse's long and short schedules, cut short by wake()), classifies failures and
 * reports them to the destination backoff.
 */
import { isIPv6 } from "node:net";
import { setTimeout as sleepFor } from "node:timers/promises";
import { Pool } from "undici";
import { canonicalJsonBytes, type JsonValue, type SigningKey } from "../../crypto";
import { createSafeConnector, undiciConnector, type SafeConnector } from "./connector";
import type { ServerDiscovery, ServerResolution } from "./discovery";
import { classifyNetworkError, FederationRequestError, type BackoffRules, type FederationErrorSummary } from "./errors";
import type { IpRangeFilter } from "./ip-range";
import { BodyExceededMaxSize, readBodyWithMaxSize } from "./read-body";
import { buildXMatrixAuthorization } from "./x-matrix";

/** Synapse's federation client: MAX_LONG_RETRIES / MAX_SHORT_RETRIES retries after the first attempt. */
export const MAX_LONG_RETRIES = 10;
export const MAX_SHORT_RETRIES = 3;
/** Synapse's MAX_RESPONSE_SIZE for federation JSON. */
export const DEFAULT_MAX_RESPONSE_BYTES = 100 * 1024 * 1024;
/**
 * A destination's pool unused for this long is closed and forgotten: with 100,000 destinations, pools kept for
 * ever would cost about 10 KB each. It matches keepAliveMaxTimeout, so no live keep-alive socket is cut short.
 */
export const IDLE_POOL_TIMEOUT_MS = 10 * 60_000;
/** How often (at most, on the next request) pools are checked for idleness. */
const IDLE_POOL_SWEEP_INTERVAL_MS = 60_000;

export type RetrySchedule = "long" | "short";

/**
 * Delay before retry number `retry` (1-based), Synapse's formulas: long min(4^n, 60 s), short min(0.5·2^(n−1), 2 s),
 * each times a jitter of uniform(0.8, 1.4) so that many callers do not come back in step.
 */
export function retryDelayMs(schedule: RetrySchedule, retry: number, random: () => number): number {
  const seconds = schedule === "long" ? Math.min(4 ** retry, 60) : Math.min(0.5 * 2 ** (retry - 1), 2);
  return seconds * 1000 * (0.8 + 0.6 * random());
}

/** Destination retry timings, implemented by federation/backoff.ts. Implementations must not throw. */
export interface FederationBackoff {
  /** false while the destination is backing off */
  isReady(destination: string): boolean | Promise<boolean>;
  recordFailure(destination: string, error: FederationRequestError): void | Promise<void>;
  recordSuccess(destination: string): void | Promise<void>;
}

export interface FederationTimeouts {
  /** TCP + TLS handshake, per address */
  connectMs: number;
  /** from sending to having the whole body, per attempt (Synapse's default federation timeout is 60 s) */
  requestMs: number;
}

export interface MatrixFederationClientOptions {
  serverName: string;
  signingKey: SigningKey;
  discovery: Pick<ServerDiscovery, "resolve" | "resolver">;
  ipFilter: IpRangeFilter;
  /** federation_verify_certificates */
  verifyCertificates: boolean;
  /** PEM CA certificates that replace the system store (Synapse's federation_custom_ca_list) */
  caCertificates?: readonly string[];
  timeouts?: Partial<FederationTimeouts>;
  maxResponseBytes?: number;
  backoff?: FederationBackoff;
  /** keep-alive connections per destination (Synapse keeps up to 5) */
  connectionsPerDestination?: number;
  userAgent?: string;
  now?: () => number;
  /** resolves after `ms`, or early when `signal` aborts (a wake-up) */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
}

export type QueryValue = string | number | boolean;
export type QueryParams = Record<string, QueryValue | readonly QueryValue[] | undefined>;

export interface FederationRequestOptions extends BackoffRules {
  query?: QueryParams;
  /** send even while the destination is backing off (key fetches, operator checks) */
  ignoreBackoff?: boolean;
  /** retry on the long schedule (background sends); implies retrying */
  longRetries?: boolean;
  /** retry on the short schedule; defaults to true for GET only, since other methods are not idempotent in general */
  retry?: boolean;
  /** per-attempt deadline instead of timeouts.requestMs */
  timeoutMs?: number;
  maxResponseBytes?: number;
  headers?: Record<string, string>;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface LastFederationError extends FederationErrorSummary {
  at: number;
  method: string;
  path: string;
}

/** Sleeps that a wake-up of their destination cuts short (Synapse's AwakenableSleeper). */
class AwakenableSleeper {
  private readonly sleeping = new Map<string, Set<AbortController>>();

  constructor(private readonly sleepFn: (ms: number, signal: AbortSignal) => Promise<void>) {}

  async sleep(destination: string, ms: number): Promise<void> {
    const controller = new AbortController();
    let set = this.sleeping.get(destination);
    if (!set) this.sleeping.set(destination, (set = new Set()));
    set.add(controller);
    const woken = new Promise<void>((resolve) => controller.signal.addEventListener("abort", () => resolve(), { once: true }));
    try {
      await Promise.race([this.sleepFn(ms, controller.signal), woken]);
    } finally {
      set.delete(controller);
      if (set.size === 0) this.sleeping.delete(destination);
    }
  }

  wake(destination: string): void {
    for (const controller of this.sleeping.get(destination) ?? []) controller.abort();
  }
}

const defaultSleep = (ms: number, signal: AbortSignal) => sleepFor(ms, undefined, { signal }).catch(() => undefined);

export class MatrixFederationClient {
  private readonly serverName: string;
  private readonly signingKey: SigningKey;
  private readonly discovery: Pick<ServerDiscovery, "resolve" | "resolver">;
  private readonly timeouts: FederationTimeouts;
  private readonly maxResponseBytes: number;
  private readonly backoff: FederationBackoff | undefined;
  private readonly connections: number;
  private readonly userAgent: string;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sleeper: AwakenableSleeper;
  private readonly filteredConnector: SafeConnector;
  private readonly overrideConnector: SafeConnector;
  private readonly pools = new Map<string, DestinationPool>();
  private lastPoolSweep: number;
  private readonly lastErrors = new Map<string, LastFederationError>();

  constructor(options: MatrixFederationClientOptions) {
    this.serverName = options.serverName;
    this.signingKey = options.signingKey;
    this.discovery = options.discovery;
    this.timeouts = { connectMs: 10_000, requestMs: 60_000, ...options.timeouts };
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.backoff = options.backoff;
    this.connections = options.connectionsPerDestination ?? 5;
    this.userAgent = options.userAgent ?? "Switchyard";
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.sleeper = new AwakenableSleeper(options.sleep ?? defaultSleep);
    this.lastPoolSweep = this.now();
    const connectorOptions = {
      resolver: options.discovery.resolver,
      verifyCertificates: options.verifyCertificates,
      ...(options.caCertificates ? { caCertificates: options.caCertificates } : {}),
      connectTimeoutMs: this.timeouts.connectMs,
    };
    this.filteredConnector = createSafeConnector({ ...connectorOptions, ipFilter: options.ipFilter });
    // The operator named override addresses explicitly, so they skip the filter (test peers live on loopback).
    this.overrideConnector = createSafeConnector({ ...connectorOptions, ipFilter: null });
  }

  getJson(destination: string, path: string, options: FederationRequestOptions = {}): Promise<JsonValue> {
    return this.send("GET", destination, path, undefined, options, (r) => decodeJson(destination, r));
  }

  putJson(destination: string, path: string, body: JsonValue, options: FederationRequestOptions = {}): Promise<JsonValue> {
    return this.send("PUT", destination, path, body, options, (r) => decodeJson(destination, r));
  }

  postJson(destination: string, path: string, body: JsonValue, options: FederationRequestOptions = {}): Promise<JsonValue> {
    return this.send("POST", destination, path, body, options, (r) => decodeJson(destination, r));
  }

  /** A signed request whose 2xx response comes back whole (status, headers, bytes): the `request` CLI command. */
  requestRaw(
    method: "GET" | "PUT" | "POST",
    destination: string,
    path: string,
    body: JsonValue | undefined,
    options: FederationRequestOptions = {},
  ): Promise<RawResponse> {
    return this.send(method, destination, path, body, options, (r) => r);
  }

  /** A signed GET whose 2xx body is returned as bytes (media). */
  getRaw(destination: string, path: string, options: FederationRequestOptions = {}): Promise<RawResponse> {
    return this.send("GET", destination, path, undefined, options, (r) => r);
  }

  /** Cuts short any retry sleep for the destination (it came back, or the operator asked to retry now). */
  wake(destination: string): void {
    this.sleeper.wake(destination);
  }

  /** The latest failure of a request to the destination since its last success, for the console. */
  lastError(destination: string): LastFederationError | undefined {
    return this.lastErrors.get(destination);
  }

  /** The destinations that have such a failure. */
  destinationsWithErrors(): string[] {
    return [...this.lastErrors.keys()];
  }

  /** Closes every pooled connection; in-flight requests finish first. */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map(({ pool }) => pool.close()));
  }

  private async send<T>(
    method: "GET" | "PUT" | "POST",
    destination: string,
    path: string,
    body: JsonValue | undefined,
    options: FederationRequestOptions,
    decode: (response: RawResponse) => T,
  ): Promise<T> {
    if (!options.ignoreBackoff && this.backoff && !(await this.backoff.isReady(destination))) {
      throw new FederationRequestError("backing_off", destination, `not sending to ${destination}: it is backing off after failures`);
    }
    const uri = path + queryString(options.query);
    const payload = body === undefined ? undefined : canonicalJsonBytes(body);
    const headers: Record<string, string> = {
      authorization: buildXMatrixAuthorization(
        { method, uri, origin: this.serverName, destination, ...(body === undefined ? {} : { content: body }) },
        this.signingKey,
      ),
      "user-agent": this.userAgent,
      ...(payload ? { "content-type": "application/json" } : {}),
      ...options.headers,
    };
    const schedule: RetrySchedule | null = options.longRetries ? "long" : (options.retry ?? method === "GET") ? "short" : null;
    const maxRetries = schedule === "long" ? MAX_LONG_RETRIES : schedule === "short" ? MAX_SHORT_RETRIES : 0;

    for (let retry = 0; ; retry++) {
      try {
        const response = await this.attempt(destination, method, uri, headers, payload, options);
        if (response.status < 200 || response.status >= 300) throw httpError(destination, response);
        const result = decode(response);
        this.lastErrors.delete(destination);
        await this.backoff?.recordSuccess(destination);
        return result;
      } catch (e) {
        const error = classifyNetworkError(e, destination);
        if (schedule && error.retryable && retry < maxRetries) {
          await this.sleeper.sleep(destination, retryDelayMs(schedule, retry + 1, this.random));
          continue;
        }
        this.lastErrors.set(destination, { ...error.toSummary(), at: this.now(), method, path });
        if (error.countsAsBackoffFailure(options)) await this.backoff?.recordFailure(destination, error);
        throw error;
      }
    }
  }

  private async attempt(
    destination: string,
    method: string,
    uri: string,
    headers: Record<string, string>,
    payload: Buffer | undefined,
    options: FederationRequestOptions,
  ): Promise<RawResponse> {
    const resolution = await this.discovery.resolve(destination);
    const entry = this.poolFor(destination, resolution);
    const pool = entry.pool;
    entry.active++;
    const timeoutMs = options.timeoutMs ?? this.timeouts.requestMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      const response = await pool.request({
        path: uri,
        method,
        headers: { ...headers, host: resolution.hostHeader },
        body: payload ?? null,
        signal: controller.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const maxBytes = options.maxResponseBytes ?? this.maxResponseBytes;
      try {
        const body = await readBodyWithMaxSize(response.body, maxBytes, response.headers["content-length"]);
        // undici marks the connection idle in a callback queued after the body ends; without this turn a request
        // made right after this one finds it busy and opens a second connection instead of reusing it.
        await new Promise((resolve) => setImmediate(resolve));
        return { status: response.statusCode, headers: response.headers, body };
      } catch (e) {
        if (e instanceof BodyExceededMaxSize) {
          throw new FederationRequestError("response_too_large", destination, `response to ${method} ${uri} exceeds ${maxBytes} bytes`);
        }
        throw e;
      }
    } catch (e) {
      if (timedOut && !(e instanceof FederationRequestError)) {
        throw new FederationRequestError("timeout", destination, `no complete response to ${method} ${uri} within ${timeoutMs} ms`, { cause: e });
      }
      throw e;
    } finally {
      clearTimeout(timer);
      entry.active--;
      entry.lastUsed = this.now();
    }
  }

  /** The destination's pool, replaced when discovery now points somewhere else. */
  private poolFor(destination: string, resolution: ServerResolution): DestinationPool {
    this.sweepIdlePools();
    const tls = resolution.scheme === "https";
    const targets = resolution.targets.map((t) => ({ ...t, tls, servername: resolution.tlsServerName }));
    const key = JSON.stringify([targets, resolution.checkIpRange]);
    const existing = this.pools.get(destination);
    if (existing?.key === key) {
      existing.lastUsed = this.now();
      return existing;
    }
    if (existing) void existing.pool.close().catch(() => undefined);

    const first = targets[0]!;
    const origin = `${resolution.scheme}://${isIPv6(first.host) ? `[${first.host}]` : first.host}:${first.port}`;
    const connector = resolution.checkIpRange ? this.filteredConnector : this.overrideConnector;
    const pool = new Pool(origin, {
      connections: this.connections,
      keepAliveTimeout: 120_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: this.timeouts.requestMs,
      bodyTimeout: this.timeouts.requestMs,
      connect: undiciConnector(connector, () => targets),
    });
    const entry = { key, pool, active: 0, lastUsed: this.now() };
    this.pools.set(destination, entry);
    return entry;
  }

  /** Closes pools with no request for IDLE_POOL_TIMEOUT_MS; piggybacks on requests, at most once a minute. */
  private sweepIdlePools(): void {
    const now = this.now();
    if (now - this.lastPoolSweep < IDLE_POOL_SWEEP_INTERVAL_MS) return;
    this.lastPoolSweep = now;
    for (const [destination, entry] of this.pools) {
      if (entry.active > 0 || now - entry.lastUsed < IDLE_POOL_TIMEOUT_MS) continue;
      this.pools.delete(destination);
      void entry.pool.close().catch(() => undefined);
    }
  }
}

interface DestinationPool {
  /** the resolution the pool was built for */
  key: string;
  pool: Pool;
  /** requests using it now */
  active: number;
  lastUsed: number;
}

function queryString(query: QueryParams | undefined): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(item))}`);
    }
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

function httpError(destination: string, response: RawResponse): FederationRequestError {
  let body: unknown;
  try {
    body = JSON.parse(response.body.toString("utf8"));
  } catch {
    body = undefined;
  }
  const fields = (body && typeof body === "object" ? body : {}) as { errcode?: unknown; error?: unknown; retry_after_ms?: unknown };
  const errcode = typeof fields.errcode === "string" ? fields.errcode : undefined;
  const text = typeof fields.error === "string" ? fields.error : undefined;
  const detail = [errcode, text].filter(Boolean).join(": ");
  return new FederationRequestError("http", destination, `${destination} answered HTTP ${response.status}${detail ? ` ${detail}` : ""}`, {
    status: response.status,
    ...(errcode === undefined ? {} : { errcode }),
    ...(body === undefined ? {} : { body }),
    ...(typeof fields.retry_after_ms === "number" ? { retryAfterMs: fields.retry_after_ms } : {}),
  });
}

function decodeJson(destination: string, response: RawResponse): JsonValue {
  try {
    return JSON.parse(response.body.toString("utf8")) as JsonValue;
  } catch {
    throw new FederationRequestError("invalid_response", destination, `response from ${destination} is not JSON`);
  }
}
