/**
 * Console authentication, kept pure (no Next, no engine) so the login route, the tRPC context and the page guard
 * share one implementation and tests exercise it directly.
 *
 * A session is the cookie value `<issuedAtMs>.<base64url HMAC-SHA256(issuedAtMs) keyed by the admin token>`: it is
 * stateless, so every process sharing the admin token accepts it, and changing the token signs everyone out.
 * Scripts skip the cookie and send `Authorization: Bearer <admin token>`.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "switchyard_session";
export const SESSION_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
/** Sessions issued by another process whose clock runs slightly ahead are still accepted. */
const CLOCK_SKEW_MS = 60_000;
/**
 * The peer address of a console request. server/main.ts overwrites it from the socket on every request it hands
 * to Next, so unlike X-Forwarded-For a client cannot choose its value (the login throttle keys on it).
 */
export const PEER_ADDRESS_HEADER = "x-switchyard-peer";

export interface AdminCredentials {
  token: string;
  /** `admin.password` from the config, accepted at the login form only */
  password?: string;
}

/** Constant-time string equality; hashing first gives equal lengths and hides the expected length. */
function safeEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** True when `given` is the admin token or the configured admin password. */
export function checkLoginCredential(credentials: AdminCredentials, given: string): boolean {
  const tokenOk = safeEqual(given, credentials.token);
  // compare against the password even when the token matched, so timing does not tell which one was sent
  const passwordOk = credentials.password !== undefined && safeEqual(given, credentials.password);
  return tokenOk || passwordOk;
}

function sessionMac(adminToken: string, issuedAtMs: string): string {
  return createHmac("sha256", adminToken).update(`switchyard-session:${issuedAtMs}`).digest("base64url");
}

export function createSessionToken(adminToken: string, nowMs: number): string {
  const issuedAt = String(Math.floor(nowMs));
  return `${issuedAt}.${sessionMac(adminToken, issuedAt)}`;
}

/** True when `value` is a session we issued (with this admin token) less than 7 days ago. */
export function verifySessionToken(adminToken: string, value: string | undefined, nowMs: number): boolean {
  if (!value) return false;
  const match = /^(\d{1,16})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match) return false;
  const issuedAt = Number(match[1]);
  if (issuedAt > nowMs + CLOCK_SKEW_MS || nowMs - issuedAt >= SESSION_MAX_AGE_MS) return false;
  return safeEqual(match[2]!, sessionMac(adminToken, match[1]!));
}

/** The value of cookie `name` in a Cookie header. */
export function readCookie(cookieHeader: string | null | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return match?.[1];
}

/** A request is the admin's when it carries the admin token as a Bearer token or a valid session cookie. */
export function isAdminRequest(headers: Headers, adminToken: string, nowMs: number): boolean {
  const bearer = bearerToken(headers.get("authorization"));
  if (bearer !== undefined) return safeEqual(bearer, adminToken);
  return verifySessionToken(adminToken, readCookie(headers.get("cookie"), SESSION_COOKIE), nowMs);
}

/** True when the browser reached us over HTTPS (Next sets x-forwarded-proto from the socket when no proxy did). */
export function isHttpsRequest(headers: Headers, url: string): boolean {
  const proto = headers.get("x-forwarded-proto")?.split(",")[0]?.trim();
  return proto ? proto === "https" : url.startsWith("https:");
}

/** Set-Cookie value for a new session; Secure only over HTTPS, or the browser would drop it on plain http. */
export function sessionSetCookie(value: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${SESSION_MAX_AGE_MS / 1000}; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}

export function clearSessionSetCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}

export interface LoginThrottleOptions {
  /** failed logins a client may make per window */
  maxFailures?: number;
  windowMs?: number;
  /** clients remembered at once; the oldest are forgotten first, so a flood of addresses cannot exhaust memory */
  maxClients?: number;
  now?: () => number;
}

/**
 * Failed-login limit per client address: after `maxFailures` failures within `windowMs` of the first one, further
 * attempts are refused until the window ends. A success forgets the client.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; firstAt: number }>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxClients: number;
  private readonly now: () => number;

  constructor(options: LoginThrottleOptions = {}) {
    this.maxFailures = options.maxFailures ?? 10;
    this.windowMs = options.windowMs ?? 10 * 60_000;
    this.maxClients = options.maxClients ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** 0 when `client` may try now, else the milliseconds until it may. */
  retryAfterMs(client: string): number {
    const entry = this.failures.get(client);
    if (!entry) return 0;
    const elapsed = this.now() - entry.firstAt;
    if (elapsed >= this.windowMs) {
      this.failures.delete(client);
      return 0;
    }
    return entry.count >= this.maxFailures ? this.windowMs - elapsed : 0;
  }

  recordFailure(client: string): void {
    const now = this.now();
    const entry = this.failures.get(client);
    if (entry && now - entry.firstAt < this.windowMs) {
      entry.count += 1;
      return;
    }
    this.failures.delete(client);
    if (this.failures.size >= this.maxClients) {
      const oldest = this.failures.keys().next();
      if (!oldest.done) this.failures.delete(oldest.value);
    }
    this.failures.set(client, { count: 1, firstAt: now });
  }

  recordSuccess(client: string): void {
    this.failures.delete(client);
  }
}
