/**
 * Server name resolution (spec: Server-Server API, "Resolving server names"): from a server name to the addresses
 * to connect to, the Host header and the TLS server name. Operator overrides come first; then IP literal,
 * explicit port, `/.well-known/matrix/server` (cached per Cache-Control), SRV `_matrix-fed._tcp`, the deprecated
 * `_matrix._tcp`, and port 8448. A/AAAA lookups happen at connect time (connector.ts) so that every address is
 * checked against the IP range filter.
 */
import { promises as dns } from "node:dns";
import { isIPv4, isIPv6 } from "node:net";
import { request, type Dispatcher } from "undici";
import { z } from "zod";
import { FederationRequestError } from "./errors";
import { BodyExceededMaxSize, readBodyWithMaxSize } from "./read-body";

export const DEFAULT_FEDERATION_PORT = 8448;

// Synapse's well_known_resolver.py numbers; the spec recommends 24 h default, 48 h maximum, errors ≤ 1 h.
const WELL_KNOWN_DEFAULT_CACHE_MS = 24 * 3600_000;
const WELL_KNOWN_MAX_CACHE_MS = 48 * 3600_000;
const WELL_KNOWN_MIN_CACHE_MS = 5 * 60_000;
const WELL_KNOWN_INVALID_CACHE_MS = 3600_000;
/** a server that recently had a valid well-known is probably only briefly down: ask again sooner */
const WELL_KNOWN_DOWN_CACHE_MS = 2 * 60_000;
const WELL_KNOWN_REMEMBER_VALID_MS = 2 * 3600_000;
const WELL_KNOWN_JITTER = 0.1;
/** refresh a cached answer once this fraction of its lifetime remains, so that it rarely expires under load */
const WELL_KNOWN_GRACE_FACTOR = 0.2;
export const WELL_KNOWN_MAX_BYTES = 50 * 1024;
const DEFAULT_SRV_CACHE_MS = 3600_000;

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

export interface LookupAddress {
  address: string;
  family: 4 | 6;
}

/** The DNS queries discovery and the connector make; tests inject fakes. */
export interface DnsResolver {
  /** SRV records; rejects with code ENOTFOUND or ENODATA when there are none */
  resolveSrv(name: string): Promise<SrvRecord[]>;
  /** AAAA and A records (or the hosts file) of a host name */
  lookup(hostname: string): Promise<LookupAddress[]>;
}

export function createSystemDnsResolver(): DnsResolver {
  return {
    resolveSrv: (name) => dns.resolveSrv(name),
    lookup: async (hostname) =>
      (await dns.lookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })),
  };
}

export class InvalidServerNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidServerNameError";
  }
}

export interface ParsedServerName {
  /** host name or IP address, IPv6 without brackets */
  host: string;
  port: number | null;
  isIpLiteral: boolean;
}

/** Parses the server name grammar (spec appendix "Server Name"): IPv4 / [IPv6] / DNS name, optional :port. */
export function parseServerName(name: string): ParsedServerName {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,255})(?::(\d{1,5}))?$/.exec(name);
  if (!match) throw new InvalidServerNameError(`invalid server name "${name}"`);
  const port = match[2] === undefined ? null : Number(match[2]);
  if (port !== null && (port < 1 || port > 65535)) throw new InvalidServerNameError(`invalid port in server name "${name}"`);
  const hostPart = match[1]!;
  if (hostPart.startsWith("[")) {
    const host = hostPart.slice(1, -1);
    if (!isIPv6(host)) throw new InvalidServerNameError(`invalid IPv6 literal in server name "${name}"`);
    return { host, port, isIpLiteral: true };
  }
  return { host: hostPart, port, isIpLiteral: isIPv4(hostPart) };
}

export interface ServerTarget {
  /** a host name to look up (A/AAAA) or an IP address, IPv6 without brackets */
  host: string;
  port: number;
}

/** Which rule produced the connection target (after delegation, when `delegatedTo` is set). */
export type ResolutionMethod = "override" | "ip_literal" | "explicit_port" | "srv" | "legacy_srv" | "default_port";

export interface WellKnownInfo {
  outcome: "delegated" | "none";
  /** the m.server value */
  server?: string;
  /** why there was no delegation */
  reason?: string;
  fetchedAt: number;
  expiresAt: number;
  fromCache: boolean;
}

export interface ServerResolution {
  serverName: string;
  method: ResolutionMethod;
  /** the well-known `m.server` the name was delegated to */
  delegatedTo?: string;
  scheme: "https" | "http";
  /** tried in order until one connects */
  targets: ServerTarget[];
  hostHeader: string;
  /** SNI and the name the certificate must match; null for IP literals (no SNI, the certificate names the IP) */
  tlsServerName: string | null;
  /** false only for operator overrides */
  checkIpRange: boolean;
  /** how the name resolved, one line per step, for check-server and the console */
  steps: string[];
  wellKnown?: WellKnownInfo;
  /** when the cached answers behind this result expire; null when none were involved */
  cachedUntil: number | null;
}

export interface ServerDiscoveryOptions {
  resolver: DnsResolver;
  /** carries the well-known GET; build it with createFederationAgent so the IP filter and TLS settings apply */
  wellKnownDispatcher: Dispatcher;
  /** federation_domain_overrides: server name → base URL such as "http://127.0.0.1:8401" */
  overrides?: Record<string, string>;
  now?: () => number;
  random?: () => number;
  wellKnownTimeoutMs?: number;
  wellKnownMaxRedirects?: number;
  srvCacheMs?: number;
  userAgent?: string;
}

interface WellKnownEntry {
  outcome: { kind: "delegated"; server: string } | { kind: "none"; reason: string };
  fetchedAt: number;
  expiresAt: number;
  /** when to fetch again (before expiry, so that an answer rarely runs out under load) */
  refreshAt: number;
}

type WellKnownFetchResult =
  | { kind: "delegated"; server: string; cacheMs: number | null }
  | { kind: "none"; reason: string; temporary: boolean };

interface Override {
  scheme: "https" | "http";
  target: ServerTarget;
}

const wellKnownSchema = z.looseObject({ "m.server": z.string() });

export class ServerDiscovery {
  readonly resolver: DnsResolver;
  private readonly dispatcher: Dispatcher;
  private readonly overrides = new Map<string, Override>();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly wellKnownTimeoutMs: number;
  private readonly maxRedirects: number;
  private readonly srvCacheMs: number;
  private readonly userAgent: string;
  private readonly wellKnownCache = new Map<string, WellKnownEntry>();
  private readonly hadValidWellKnownUntil = new Map<string, number>();
  private readonly wellKnownInflight = new Map<string, Promise<WellKnownEntry>>();
  private readonly srvCache = new Map<string, { records: SrvRecord[]; expiresAt: number }>();

  constructor(options: ServerDiscoveryOptions) {
    this.resolver = options.resolver;
    this.dispatcher = options.wellKnownDispatcher;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.wellKnownTimeoutMs = options.wellKnownTimeoutMs ?? 10_000;
    this.maxRedirects = options.wellKnownMaxRedirects ?? 10;
    this.srvCacheMs = options.srvCacheMs ?? DEFAULT_SRV_CACHE_MS;
    this.userAgent = options.userAgent ?? "Switchyard";
    for (const [name, base] of Object.entries(options.overrides ?? {})) this.overrides.set(name, parseOverride(name, base));
  }

  /** Forgets cached well-known and SRV answers for a server, so the next request resolves it afresh. */
  clearCache(serverName: string): void {
    this.wellKnownCache.delete(serverName);
    this.hadValidWellKnownUntil.delete(serverName);
    try {
      const { host } = parseServerName(serverName);
      for (const prefix of ["_matrix-fed._tcp.", "_matrix._tcp."]) this.srvCache.delete(prefix + host);
    } catch {
      // an invalid name was never cached
    }
  }

  /** Resolves a server name. Throws FederationRequestError (class "dns") when it cannot be resolved. */
  async resolve(serverName: string): Promise<ServerResolution> {
    const override = this.overrides.get(serverName);
    if (override) return this.resolveOverride(serverName, override);

    let parsed: ParsedServerName;
    try {
      parsed = parseServerName(serverName);
    } catch (e) {
      throw new FederationRequestError("dns", serverName, (e as Error).message, { permanent: true });
    }
    const steps: string[] = [];

    if (parsed.isIpLiteral) {
      steps.push(`${serverName} is an IP literal: connect to it${parsed.port === null ? " on the default port 8448" : ""}`);
      return this.done(serverName, "ip_literal", { host: parsed.host, port: parsed.port ?? DEFAULT_FEDERATION_PORT }, serverName, null, steps);
    }
    if (parsed.port !== null) {
      steps.push(`${serverName} has an explicit port: connect to ${parsed.host}:${parsed.port} (A/AAAA)`);
      return this.done(serverName, "explicit_port", { host: parsed.host, port: parsed.port }, serverName, parsed.host, steps);
    }

    const { entry, fromCache } = await this.wellKnown(parsed.host);
    const wellKnown: WellKnownInfo = {
      outcome: entry.outcome.kind,
      ...(entry.outcome.kind === "delegated" ? { server: entry.outcome.server } : { reason: entry.outcome.reason }),
      fetchedAt: entry.fetchedAt,
      expiresAt: entry.expiresAt,
      fromCache,
    };
    const url = `https://${parsed.host}/.well-known/matrix/server`;
    const until = new Date(entry.expiresAt).toISOString();
    const cacheNote = fromCache ? `cached, until ${until}` : `cached until ${until}`;

    let result: ServerResolution;
    if (entry.outcome.kind === "delegated") {
      const delegated = entry.outcome.server;
      steps.push(`GET ${url}: m.server is "${delegated}" (${cacheNote})`);
      const d = parseServerName(delegated);
      if (d.isIpLiteral) {
        steps.push(`${delegated} is an IP literal: connect to it${d.port === null ? " on the default port 8448" : ""}`);
        result = this.done(serverName, "ip_literal", { host: d.host, port: d.port ?? DEFAULT_FEDERATION_PORT }, delegated, null, steps);
      } else if (d.port !== null) {
        steps.push(`${delegated} has an explicit port: connect to ${d.host}:${d.port} (A/AAAA)`);
        result = this.done(serverName, "explicit_port", { host: d.host, port: d.port }, delegated, d.host, steps);
      } else {
        result = await this.resolveBySrv(serverName, d.host, steps);
      }
      result.delegatedTo = delegated;
    } else {
      steps.push(`GET ${url}: no delegation, ${entry.outcome.reason} (${cacheNote})`);
      result = await this.resolveBySrv(serverName, parsed.host, steps);
    }
    result.wellKnown = wellKnown;
    result.cachedUntil = result.cachedUntil === null ? entry.expiresAt : Math.min(result.cachedUntil, entry.expiresAt);
    return result;
  }

  private resolveOverride(serverName: string, override: Override): ServerResolution {
    let tlsServerName: string | null = null;
    try {
      const parsed = parseServerName(serverName);
      if (!parsed.isIpLiteral) tlsServerName = parsed.host;
    } catch {
      // overrides may name test hosts outside the grammar; there is then no TLS name to send
    }
    const { host, port } = override.target;
    const steps = [`federation_domain_overrides sends ${serverName} to ${override.scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`];
    return { ...this.done(serverName, "override", override.target, serverName, tlsServerName, steps), scheme: override.scheme, checkIpRange: false };
  }

  /** Steps 3.3–3.5 (delegated name without port) and 4–6 (no delegation): SRV, legacy SRV, then port 8448. */
  private async resolveBySrv(serverName: string, host: string, steps: string[]): Promise<ServerResolution> {
    for (const [prefix, method] of [["_matrix-fed._tcp.", "srv"], ["_matrix._tcp.", "legacy_srv"]] as const) {
      const name = prefix + host;
      const { records, expiresAt, fromCache } = await this.srv(serverName, name);
      if (records.length > 0) {
        const targets = records.map((r) => ({ host: r.name.replace(/\.$/, ""), port: r.port }));
        const list = targets.map((t) => `${t.host}:${t.port}`).join(", ");
        const deprecated = method === "legacy_srv" ? " (deprecated)" : "";
        steps.push(`SRV ${name}${deprecated}: ${list}${fromCache ? " (cached)" : ""}`);
        return { ...this.done(serverName, method, targets[0]!, host, host, steps), targets, cachedUntil: expiresAt };
      }
      steps.push(`SRV ${name}: no records`);
    }
    steps.push(`no SRV records: connect to ${host}:8448 (A/AAAA)`);
    return this.done(serverName, "default_port", { host, port: DEFAULT_FEDERATION_PORT }, host, host, steps);
  }

  private done(
    serverName: string,
    method: ResolutionMethod,
    target: ServerTarget,
    hostHeader: string,
    tlsServerName: string | null,
    steps: string[],
  ): ServerResolution {
    return { serverName, method, scheme: "https", targets: [target], hostHeader, tlsServerName, checkIpRange: true, steps, cachedUntil: null };
  }

  private async srv(serverName: string, name: string): Promise<{ records: SrvRecord[]; expiresAt: number; fromCache: boolean }> {
    const now = this.now();
    const cached = this.srvCache.get(name);
    if (cached && now < cached.expiresAt) return { ...cached, fromCache: true };
    let records: SrvRecord[];
    try {
      records = await this.resolver.resolveSrv(name);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== "ENOTFOUND" && code !== "ENODATA") {
        throw new FederationRequestError("dns", serverName, `SRV lookup of ${name} failed: ${(e as Error).message}`, { cause: e });
      }
      records = [];
    }
    // A lone "." target means "decidedly not available here" (RFC 2782).
    if (records.length === 1 && records[0]!.name.replace(/\.$/, "") === "") records = [];
    const entry = { records: orderSrvRecords(records, this.random), expiresAt: now + this.srvCacheMs };
    this.srvCache.set(name, entry);
    return { ...entry, fromCache: false };
  }

  private async wellKnown(host: string): Promise<{ entry: WellKnownEntry; fromCache: boolean }> {
    const cached = this.wellKnownCache.get(host);
    if (cached && this.now() < cached.refreshAt) return { entry: cached, fromCache: true };
    let inflight = this.wellKnownInflight.get(host);
    if (!inflight) {
      inflight = this.refreshWellKnown(host, cached).finally(() => this.wellKnownInflight.delete(host));
      this.wellKnownInflight.set(host, inflight);
    }
    const entry = await inflight;
    // A refresh that failed temporarily hands back the previous answer (same outcome object).
    return { entry, fromCache: entry.outcome === cached?.outcome };
  }

  private async refreshWellKnown(host: string, previous: WellKnownEntry | undefined): Promise<WellKnownEntry> {
    const result = await this.fetchWellKnown(host);
    const now = this.now();
    if (result.kind === "none" && result.temporary && previous?.outcome.kind === "delegated" && now < previous.expiresAt) {
      // The server is briefly unreachable but we still hold a valid answer: keep using it, and try again later.
      const kept = { ...previous, refreshAt: Math.min(now + WELL_KNOWN_DOWN_CACHE_MS, previous.expiresAt) };
      this.wellKnownCache.set(host, kept);
      return kept;
    }
    let ttlMs: number;
    let outcome: WellKnownEntry["outcome"];
    if (result.kind === "delegated") {
      outcome = { kind: "delegated", server: result.server };
      ttlMs =
        result.cacheMs === null
          ? WELL_KNOWN_DEFAULT_CACHE_MS * this.jitter(1 - WELL_KNOWN_JITTER, 1 + WELL_KNOWN_JITTER)
          : Math.min(Math.max(result.cacheMs, WELL_KNOWN_MIN_CACHE_MS), WELL_KNOWN_MAX_CACHE_MS);
      this.hadValidWellKnownUntil.set(host, now + ttlMs + WELL_KNOWN_REMEMBER_VALID_MS);
    } else {
      outcome = { kind: "none", reason: result.reason };
      const hadValid = (this.hadValidWellKnownUntil.get(host) ?? 0) > now;
      // Jitter only downwards, so that errors are never cached for more than the hour the spec allows.
      ttlMs = (hadValid ? WELL_KNOWN_DOWN_CACHE_MS : WELL_KNOWN_INVALID_CACHE_MS) * this.jitter(1 - WELL_KNOWN_JITTER, 1);
    }
    const entry: WellKnownEntry = { outcome, fetchedAt: now, expiresAt: now + ttlMs, refreshAt: now + (1 - WELL_KNOWN_GRACE_FACTOR) * ttlMs };
    this.wellKnownCache.set(host, entry);
    return entry;
  }

  private jitter(low: number, high: number): number {
    return low + (high - low) * this.random();
  }

  /** GET https://<host>/.well-known/matrix/server, following redirects; never throws. */
  private async fetchWellKnown(host: string): Promise<WellKnownFetchResult> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.wellKnownTimeoutMs);
    const seen = new Set<string>();
    let url = new URL(`https://${host}/.well-known/matrix/server`);
    try {
      for (let redirects = 0; ; redirects++) {
        seen.add(url.href);
        const response = await request(url, {
          method: "GET",
          dispatcher: this.dispatcher,
          headers: { "user-agent": this.userAgent },
          signal: controller.signal,
        });
        const location = response.headers.location;
        if (response.statusCode >= 300 && response.statusCode < 400 && typeof location === "string") {
          await response.body.dump();
          if (redirects >= this.maxRedirects) return { kind: "none", reason: `more than ${this.maxRedirects} redirects`, temporary: false };
          const next = new URL(location, url);
          if (next.protocol !== "https:") return { kind: "none", reason: `redirect to non-HTTPS ${next.href}`, temporary: false };
          if (seen.has(next.href)) return { kind: "none", reason: `redirect loop at ${next.href}`, temporary: false };
          url = next;
          continue;
        }
        let body: Buffer;
        try {
          body = await readBodyWithMaxSize(response.body, WELL_KNOWN_MAX_BYTES, response.headers["content-length"]);
        } catch (e) {
          if (e instanceof BodyExceededMaxSize) return { kind: "none", reason: `response larger than ${WELL_KNOWN_MAX_BYTES} bytes`, temporary: true };
          throw e;
        }
        if (response.statusCode >= 500) return { kind: "none", reason: `HTTP ${response.statusCode}`, temporary: true };
        if (response.statusCode !== 200) return { kind: "none", reason: `HTTP ${response.statusCode}`, temporary: false };
        return parseWellKnownBody(body, response.headers, this.now());
      }
    } catch (e) {
      const reason = controller.signal.aborted ? `timed out after ${this.wellKnownTimeoutMs} ms` : describeError(e);
      return { kind: "none", reason, temporary: true };
    } finally {
      clearTimeout(timer);
    }
  }
}

function parseWellKnownBody(body: Buffer, headers: Record<string, string | string[] | undefined>, now: number): WellKnownFetchResult {
  // The spec says to treat the body as JSON whatever its Content-Type.
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    return { kind: "none", reason: "response is not JSON", temporary: false };
  }
  const parsed = wellKnownSchema.safeParse(json);
  if (!parsed.success) return { kind: "none", reason: 'response has no string "m.server"', temporary: false };
  const server = parsed.data["m.server"];
  try {
    parseServerName(server);
  } catch {
    return { kind: "none", reason: `m.server "${server}" is not a valid server name`, temporary: false };
  }
  return { kind: "delegated", server, cacheMs: cachePeriodFromHeaders(headers, now) };
}

/** Cache-Control no-store / max-age, then Expires; null when the response says nothing. */
export function cachePeriodFromHeaders(headers: Record<string, string | string[] | undefined>, now: number): number | null {
  const cacheControl = ([] as string[]).concat(headers["cache-control"] ?? []);
  const directives = new Map<string, string | undefined>();
  for (const header of cacheControl) {
    for (const directive of header.split(",")) {
      const [key, value] = directive.split("=", 2).map((s) => s.trim());
      if (key) directives.set(key.toLowerCase(), value?.replace(/^"(.*)"$/, "$1"));
    }
  }
  if (directives.has("no-store")) return 0;
  const maxAge = directives.get("max-age");
  if (maxAge !== undefined && /^\d+$/.test(maxAge)) return Number(maxAge) * 1000;
  const expires = ([] as string[]).concat(headers.expires ?? []).at(-1);
  if (expires !== undefined) {
    const at = Date.parse(expires);
    // RFC 7234: an invalid date means "already expired".
    return Number.isNaN(at) ? 0 : Math.max(0, at - now);
  }
  return null;
}

/** RFC 2782 order: ascending priority; within a priority, weighted random. */
export function orderSrvRecords(records: SrvRecord[], random: () => number): SrvRecord[] {
  const byPriority = new Map<number, SrvRecord[]>();
  for (const record of records) byPriority.set(record.priority, [...(byPriority.get(record.priority) ?? []), record]);
  const ordered: SrvRecord[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const pool = [...byPriority.get(priority)!];
    while (pool.length > 0) {
      const total = pool.reduce((sum, r) => sum + r.weight, 0);
      let pick = 0;
      if (total > 0) {
        let point = random() * total;
        pick = pool.findIndex((r) => (point -= r.weight) < 0);
        if (pick < 0) pick = pool.length - 1;
      }
      ordered.push(pool.splice(pick, 1)[0]!);
    }
  }
  return ordered;
}

function parseOverride(serverName: string, base: string): Override {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new Error(`federation_domain_overrides.${serverName}: "${base}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`federation_domain_overrides.${serverName}: use an http:// or https:// URL, not "${base}"`);
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash || url.username) {
    throw new Error(`federation_domain_overrides.${serverName}: give only scheme, host and port, not "${base}"`);
  }
  const scheme = url.protocol === "https:" ? "https" : "http";
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return { scheme, target: { host, port: url.port ? Number(url.port) : scheme === "https" ? 443 : 80 } };
}

function describeError(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown };
  const message = typeof err?.message === "string" ? err.message : String(e);
  return typeof err?.code === "string" ? `${message} (${err.code})` : message;
}
