/**
 * Failures of outbound federation requests, classified so that callers (backoff, the console, `check-server`)
 * can tell "their DNS is broken" from "they said M_FORBIDDEN" without parsing messages.
 */

export type FederationErrorClass =
  | "dns" // name resolution failed (well-known is never fatal; SRV/A/AAAA lookups are)
  | "connect" // TCP connection refused, reset or unreachable
  | "tls" // handshake or certificate verification failed
  | "timeout" // connect, headers, body or whole-request deadline passed
  | "http" // the server answered with a non-2xx status
  | "response_too_large" // the body exceeded the size cap
  | "blocked_ip" // every route to the server leads to a blacklisted address
  | "backing_off" // not attempted: the destination is in backoff
  | "invalid_response"; // 2xx, but the body is not the JSON the endpoint promises

export interface FederationErrorDetails {
  status?: number;
  errcode?: string;
  /** the parsed JSON error body of an HTTP error, when it was JSON */
  body?: unknown;
  /** from a 429's `retry_after_ms` */
  retryAfterMs?: number;
  /** trying again cannot help (e.g. an invalid server name), whatever the class */
  permanent?: boolean;
  cause?: unknown;
}

/** What a caller may opt into for the backoff decision (Synapse's `backoff_on_404` / `backoff_on_all_error_codes`). */
export interface BackoffRules {
  /**
   * false: a failure never counts against the destination. For key fetches, which any inbound request can trigger
   * for any origin name: recording them would let strangers create backoff rows at will.
   */
  countFailures?: boolean;
  backoffOn404?: boolean;
  backoffOnAllErrorCodes?: boolean;
}

export class FederationRequestError extends Error {
  readonly status: number | undefined;
  readonly errcode: string | undefined;
  readonly body: unknown;
  readonly retryAfterMs: number | undefined;
  private readonly permanent: boolean;

  constructor(
    readonly errorClass: FederationErrorClass,
    readonly destination: string,
    message: string,
    details: FederationErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "FederationRequestError";
    this.status = details.status;
    this.errcode = details.errcode;
    this.body = details.body;
    this.retryAfterMs = details.retryAfterMs;
    this.permanent = !!details.permanent;
  }

  /** Whether trying again within the same call may help (Synapse retries connection errors, timeouts, 5xx, 429). */
  get retryable(): boolean {
    if (this.permanent) return false;
    switch (this.errorClass) {
      case "dns":
      case "connect":
      case "timeout":
        return true;
      case "http":
        return this.status === 429 || (this.status ?? 0) >= 500;
      default:
        // A certificate, a blacklisted address or an oversized body will be the same a second later.
        return false;
    }
  }

  /**
   * Whether this failure should grow the destination's backoff (DESIGN.md §5, Synapse's RetryDestinationLimiter):
   * network failures and timeouts do; HTTP 401, 429 and ≥ 500 do; 404 only when opted in; other 4xx are
   * "valid errors" that leave the timings alone, unless every error code counts (as on /send).
   */
  countsAsBackoffFailure(rules: BackoffRules = {}): boolean {
    if (this.errorClass === "backing_off" || rules.countFailures === false) return false;
    if (this.errorClass !== "http") return true;
    const status = this.status ?? 0;
    if (rules.backoffOnAllErrorCodes) return true;
    if (status === 404) return !!rules.backoffOn404;
    return status === 401 || status === 429 || status >= 500;
  }

  /** A plain summary for the console and logs. */
  toSummary(): FederationErrorSummary {
    return {
      errorClass: this.errorClass,
      message: this.message,
      ...(this.status === undefined ? {} : { status: this.status }),
      ...(this.errcode === undefined ? {} : { errcode: this.errcode }),
    };
  }
}

export interface FederationErrorSummary {
  errorClass: FederationErrorClass;
  message: string;
  status?: number;
  errcode?: string;
}

/** Raised inside our socket connector so that the class survives undici's error plumbing. */
export class ConnectorError extends Error {
  constructor(
    readonly errorClass: "dns" | "blocked_ip",
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "ConnectorError";
  }
}

const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "ETIMEDOUT"]);
const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NONAME", "ENODATA", "ESERVFAIL", "ENOTIMP", "EREFUSED"]);
// Node reports certificate problems with OpenSSL's names, handshake problems as ERR_SSL_*/ERR_TLS_*/EPROTO.
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|EPROTO$)|CERT|SIGNATURE|ISSUER/;

/** Maps a low-level error from DNS, sockets, TLS or undici to a FederationRequestError. */
export function classifyNetworkError(error: unknown, destination: string): FederationRequestError {
  if (error instanceof FederationRequestError) return error;
  if (error instanceof ConnectorError) {
    return new FederationRequestError(error.errorClass, destination, error.message, { cause: error });
  }
  const err = error as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === "string" ? err.code : "";
  const detail = typeof err?.message === "string" && err.message ? err.message : String(error);
  if (TIMEOUT_CODES.has(code)) return new FederationRequestError("timeout", destination, `timed out: ${detail}`, { cause: error });
  if (DNS_CODES.has(code)) return new FederationRequestError("dns", destination, `DNS lookup failed: ${detail}`, { cause: error });
  if (TLS_CODE.test(code)) return new FederationRequestError("tls", destination, `TLS failed: ${detail} (${code})`, { cause: error });
  return new FederationRequestError("connect", destination, `connection failed: ${detail}${code ? ` (${code})` : ""}`, { cause: error });
}
