/**
 * Inbound federation router: every /_matrix/federation endpoint is authenticated with X-Matrix (spec: "Request
 * Authentication") against the origin's keys from the Keyring, then rate limited per origin, then dispatched.
 * A request that proves its origin tells the sender that the origin is up (its backoff ends).
 */
import type { JsonValue } from "../../crypto";
import { unauthorized } from "../../http/matrix-error";
import { parseJsonBody, type HandlerResult, type RequestContext, type RequestInfo, type Router } from "../../http/router";
import { KeyLookupError, type Keyring } from "../../keys/keyring";
import type { FederationRateLimiter } from "./rate-limiter";
import { XMatrixParseError, parseXMatrixHeader, verifyXMatrixRequest } from "./x-matrix";

export interface FederationAuth {
  origin: string;
  /** the parsed JSON body, or undefined for a request without one */
  content: JsonValue | undefined;
}

export type FederationHandler = (ctx: RequestContext<FederationAuth>) => Promise<HandlerResult> | HandlerResult;

/** Server names per the spec's grammar: hostname, IPv4 or [IPv6], optional port; 255 characters at most. */
const SERVER_NAME = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,255})(?::\d{1,5})?$/;

export interface TransportLayerServerOptions {
  serverName: string;
  router: Router;
  keyring: Keyring;
  rateLimiter: FederationRateLimiter;
  /** called for each request whose signature checked out */
  onVerifiedOrigin: (origin: string) => void;
  now?: () => number;
}

export class TransportLayerServer {
  private readonly now: () => number;

  constructor(private readonly options: TransportLayerServerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Registers an endpoint under X-Matrix authentication and per-origin rate limiting. */
  add(method: string, pattern: string, handler: FederationHandler, options: { maxBodyBytes?: number } = {}): void {
    this.options.router.add<FederationAuth>(
      method,
      pattern,
      { authenticate: (info) => this.authenticate(info), maxBodyBytes: options.maxBodyBytes },
      (ctx) => this.options.rateLimiter.run(ctx.auth.origin, async () => handler(ctx)),
    );
  }

  async authenticate(info: RequestInfo): Promise<FederationAuth> {
    const header = info.headers.authorization;
    if (!header) throw unauthorized("Missing Authorization header");
    let credentials;
    try {
      credentials = parseXMatrixHeader(header);
    } catch (e) {
      if (e instanceof XMatrixParseError) throw unauthorized(`Invalid X-Matrix header: ${e.message}`);
      throw e;
    }
    const { origin, key, sig } = credentials;
    if (!SERVER_NAME.test(origin)) throw unauthorized(`Invalid origin server name "${origin}"`);
    if (credentials.destination !== undefined && credentials.destination !== this.options.serverName) {
      throw unauthorized(`Request is for ${credentials.destination}, not this server (${this.options.serverName})`);
    }
    if (origin === this.options.serverName) throw unauthorized("Request claims to come from this server");
    // The signature covers the body as JSON, so it must parse, with canonical numbers.
    const content = info.body.length === 0 ? undefined : parseJsonBody(info.body);
    let publicKey;
    try {
      publicKey = (await this.options.keyring.getVerifyKey(origin, key, this.now())).publicKey;
    } catch (e) {
      if (e instanceof KeyLookupError) throw unauthorized(`Cannot check signature of ${origin}: ${e.message}`);
      throw e;
    }
    const result = verifyXMatrixRequest(
      { method: info.method, uri: info.uri, origin, destination: this.options.serverName, content, key, sig },
      publicKey,
    );
    if (!result.ok) throw unauthorized(`Invalid signature for ${origin} with key ${key}`);
    this.options.onVerifiedOrigin(origin);
    return { origin, content };
  }
}

