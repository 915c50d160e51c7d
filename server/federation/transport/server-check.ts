/**
 * A federation tester (like federationtester.matrix.org): how a server name resolves, whether every address it
 * resolves to accepts a connection and with which certificate, whether its key document verifies, and which
 * software answers /version. Connections go through the engine's own connector (IP range filter, SNI) but never
 * reject a certificate, so that a bad one can be described; whether it verified is reported beside it.
 */
import { isIP, isIPv6, type Socket } from "node:net";
import { TLSSocket, checkServerIdentity, type PeerCertificate } from "node:tls";
import { createSafeConnector } from "./connector";
import type { ServerResolution } from "./discovery";
import { classifyNetworkError, type FederationErrorClass } from "./errors";
import { FEDERATION_CONNECT_TIMEOUT_MS, type OutboundFederation } from "./outbound";
import { serverKeyResponseSchema, verifyKeyResponse } from "../../keys/key-response";

export interface CheckFailure {
  class: FederationErrorClass;
  message: string;
  status?: number;
  errcode?: string;
}

export interface CertificateReport {
  subject: string;
  issuer: string;
  subject_alt_names: string[];
  /** ISO 8601 */
  valid_from: string;
  valid_to: string;
  fingerprint_sha256: string;
}

export interface TlsReport {
  protocol: string | null;
  cipher: string;
  alpn: string | null;
  /** the SNI sent; null for IP literals */
  server_name: string | null;
  /** the chain checked against the trusted CAs, and the name against the certificate */
  verified: boolean;
  verify_error?: string;
  /** the name alone (OpenSSL stops at the first failure, so a bad chain hides a wrong name) */
  name_matches: boolean;
  name_error?: string;
  certificate: CertificateReport | null;
}

export interface ConnectionReport {
  /** host:port from discovery */
  target: string;
  /** the IP dialled; null when the host did not resolve */
  address: string | null;
  ok: boolean;
  error?: CheckFailure;
  tls?: TlsReport;
}

export interface ResolutionReport {
  method: ServerResolution["method"];
  scheme: ServerResolution["scheme"];
  delegated_to?: string;
  targets: string[];
  host_header: string;
  tls_server_name: string | null;
  check_ip_range: boolean;
  steps: string[];
}

export interface KeysReport {
  ok: boolean;
  error?: CheckFailure;
  valid_until_ts?: number;
  /** key ID → unpadded base64 public key */
  verify_keys?: Record<string, string>;
  old_verify_keys?: Record<string, { key: string; expired_ts: number }>;
}

export interface VersionReport {
  ok: boolean;
  error?: CheckFailure;
  name?: string;
  version?: string;
}

export interface ServerCheckReport {
  server_name: string;
  ok: boolean;
  /** every failed check, one sentence each; empty when ok */
  problems: string[];
  /** whether an unverified certificate counts as a problem (federation_verify_certificates) */
  verify_certificates: boolean;
  resolution: ResolutionReport | null;
  resolution_error?: CheckFailure;
  connections: ConnectionReport[];
  /** null when the name did not resolve (nothing to ask) */
  keys: KeysReport | null;
  version: VersionReport | null;
}

export type ServerCheckDeps = Pick<OutboundFederation, "discovery" | "transportClient" | "ipFilter" | "verifyCertificates" | "caCertificates">;

const hostPort = (host: string, port: number) => `${isIPv6(host) ? `[${host}]` : host}:${port}`;

/** "host:port (address)", or just the target when it is the address itself. */
export function connectionLabel(c: ConnectionReport): string {
  return c.address === null || c.target.startsWith(isIPv6(c.address) ? `[${c.address}]:` : `${c.address}:`) ? c.target : `${c.target} (${c.address})`;
}

function failure(e: unknown, serverName: string): CheckFailure {
  const { errorClass, message, status, errcode } = classifyNetworkError(e, serverName).toSummary();
  return { class: errorClass, message, ...(status === undefined ? {} : { status }), ...(errcode === undefined ? {} : { errcode }) };
}

export async function checkServer(deps: ServerCheckDeps, serverName: string, now: () => number = Date.now): Promise<ServerCheckReport> {
  const problems: string[] = [];
  const base = { server_name: serverName, verify_certificates: deps.verifyCertificates };
  let resolution: ServerResolution;
  try {
    resolution = await deps.discovery.resolve(serverName);
  } catch (e) {
    const error = failure(e, serverName);
    return { ...base, ok: false, problems: [`cannot resolve ${serverName}: ${error.message}`], resolution: null, resolution_error: error, connections: [], keys: null, version: null };
  }

  const [connections, keys, version] = await Promise.all([
    checkConnections(deps, resolution),
    checkKeys(deps, serverName, now),
    checkVersion(deps, serverName),
  ]);
  for (const c of connections) {
    if (!c.ok) problems.push(`${connectionLabel(c)}: ${c.error!.message}`);
    else if (c.tls && !c.tls.verified && deps.verifyCertificates) problems.push(`${connectionLabel(c)}: certificate not trusted: ${c.tls.verify_error}`);
  }
  if (!keys.ok) problems.push(`server keys: ${keys.error!.message}`);
  else if (keys.valid_until_ts! <= now()) problems.push(`server keys expired at ${new Date(keys.valid_until_ts!).toISOString()} (valid_until_ts)`);
  if (!version.ok) problems.push(`version: ${version.error!.message}`);

  return {
    ...base,
    ok: problems.length === 0,
    problems,
    resolution: {
      method: resolution.method,
      scheme: resolution.scheme,
      ...(resolution.delegatedTo === undefined ? {} : { delegated_to: resolution.delegatedTo }),
      targets: resolution.targets.map((t) => hostPort(t.host, t.port)),
      host_header: resolution.hostHeader,
      tls_server_name: resolution.tlsServerName,
      check_ip_range: resolution.checkIpRange,
      steps: resolution.steps,
    },
    connections,
    keys,
    version,
  };
}

/** Every address of every target, so that one bad AAAA record behind a good A record still shows. */
async function checkConnections(deps: ServerCheckDeps, resolution: ServerResolution): Promise<ConnectionReport[]> {
  const connect = createSafeConnector({
    resolver: deps.discovery.resolver,
    ipFilter: resolution.checkIpRange ? deps.ipFilter : null,
    verifyCertificates: false,
    caCertificates: deps.caCertificates,
    connectTimeoutMs: FEDERATION_CONNECT_TIMEOUT_MS,
  });
  const tls = resolution.scheme === "https";
  const reports: ConnectionReport[] = [];
  for (const { host, port } of resolution.targets) {
    const target = hostPort(host, port);
    let addresses: string[];
    try {
      addresses = isIP(host) ? [host] : (await deps.discovery.resolver.lookup(host)).map((a) => a.address);
    } catch (e) {
      reports.push({ target, address: null, ok: false, error: { class: "dns", message: `DNS lookup of ${host} failed: ${(e as Error).message}` } });
      continue;
    }
    if (addresses.length === 0) reports.push({ target, address: null, ok: false, error: { class: "dns", message: `${host} has no addresses` } });
    for (const address of addresses) {
      let socket: Socket;
      try {
        socket = await connect({ host: address, port, tls, servername: resolution.tlsServerName });
      } catch (e) {
        reports.push({ target, address, ok: false, error: failure(e, resolution.serverName) });
        continue;
      }
      reports.push({ target, address, ok: true, ...(socket instanceof TLSSocket ? { tls: describeTls(socket, resolution.tlsServerName, address) } : {}) });
      socket.destroy();
    }
  }
  return reports;
}

/** The certificate must name the SNI, or without one (IP literals) the address dialled. */
function describeTls(socket: TLSSocket, sni: string | null, address: string): TlsReport {
  const cert = socket.getPeerCertificate();
  const hasCert = !!cert && Object.keys(cert).length > 0;
  const error = socket.authorizationError as Error | string | null | undefined;
  const nameError = hasCert ? checkServerIdentity(sni ?? address, cert) : new Error("no certificate");
  return {
    protocol: socket.getProtocol(),
    cipher: socket.getCipher().name,
    alpn: socket.alpnProtocol || null,
    server_name: sni,
    verified: socket.authorized,
    ...(socket.authorized || !error ? {} : { verify_error: typeof error === "string" ? error : error.message }),
    name_matches: !nameError,
    ...(nameError ? { name_error: nameError.message } : {}),
    certificate: hasCert ? describeCertificate(cert) : null,
  };
}

function describeCertificate(cert: PeerCertificate): CertificateReport {
  return {
    subject: distinguishedName(cert.subject),
    issuer: distinguishedName(cert.issuer),
    subject_alt_names: cert.subjectaltname ? cert.subjectaltname.split(", ") : [],
    valid_from: isoDate(cert.valid_from),
    valid_to: isoDate(cert.valid_to),
    fingerprint_sha256: cert.fingerprint256,
  };
}

function distinguishedName(name: object | undefined): string {
  return Object.entries(name ?? {}).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : String(v)}`).join(", ");
}

/** OpenSSL's "Jan  1 00:00:00 2026 GMT" as ISO 8601 (left as it is if it does not parse). */
function isoDate(text: string): string {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? text : new Date(ms).toISOString();
}

async function checkKeys(deps: ServerCheckDeps, serverName: string, now: () => number): Promise<KeysReport> {
  let raw;
  try {
    raw = await deps.transportClient.fetchServerKeys(serverName, { retry: false });
  } catch (e) {
    return { ok: false, error: failure(e, serverName) };
  }
  try {
    verifyKeyResponse(raw, serverName, serverName, now());
  } catch (e) {
    return { ok: false, error: { class: "invalid_response", message: (e as Error).message } };
  }
  const doc = serverKeyResponseSchema.parse(raw);
  return {
    ok: true,
    valid_until_ts: doc.valid_until_ts,
    verify_keys: Object.fromEntries(Object.entries(doc.verify_keys).map(([id, k]) => [id, k.key])),
    old_verify_keys: Object.fromEntries(Object.entries(doc.old_verify_keys ?? {}).map(([id, k]) => [id, { key: k.key, expired_ts: k.expired_ts }])),
  };
}

async function checkVersion(deps: ServerCheckDeps, serverName: string): Promise<VersionReport> {
  try {
    const { server } = await deps.transportClient.getServerVersion(serverName, { retry: false });
    return { ok: true, ...(server.name === undefined ? {} : { name: server.name }), ...(server.version === undefined ? {} : { version: server.version }) };
  } catch (e) {
    return { ok: false, error: failure(e, serverName) };
  }
}
