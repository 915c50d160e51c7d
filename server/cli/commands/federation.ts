/**
 * The federation commands (DESIGN.md §6): `request` sends one signed request as the configured server, and
 * `check-server` is a federation tester. Both reach other servers through the engine's own outbound stack
 * (createOutboundFederation), so discovery, overrides, the IP range filter and TLS behave as the engine's do.
 */
import { existsSync } from "node:fs";
import { loadConfig, type Config } from "../../config";
import { generateSigningKey, type JsonValue, type SigningKey } from "../../crypto";
import { FederationRequestError } from "../../federation/transport/errors";
import { createOutboundFederation, type OutboundFederation } from "../../federation/transport/outbound";
import { checkServer, connectionLabel, type ConnectionReport, type ServerCheckReport } from "../../federation/transport/server-check";
import { CliError, parseJsonObject, printJson, readJsonObject, readSigningKeys, requiredFlag, stringFlag, type CliCommand, type CliIo, type FlagValues } from "../command";

const OUTBOUND_OPTIONS = { config: { type: "string" }, "no-verify-tls": { type: "boolean" } } as const;
const METHODS = ["GET", "PUT", "POST"] as const;
type Method = (typeof METHODS)[number];

function onePositional(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new CliError(`expected one ${what}, got ${positionals.length === 0 ? "none" : positionals.length}`);
  return positionals[0]!;
}

/** The current key of the configured server; the CLI never creates one (that is the server's first start). */
async function configuredSigningKey(io: CliIo, config: Config): Promise<SigningKey> {
  const path = config.signing_key_path;
  if (!existsSync(path)) throw new CliError(`no signing key at ${path}: start the server once to create it, or pass --config FILE`);
  return (await readSigningKeys(io, path))[0]!;
}

/** Runs `work` against the outbound stack of the config (--config, SWITCHYARD_CONFIG or the defaults), then closes it. */
async function withOutbound<T>(values: FlagValues, signingKey: (config: Config) => Promise<SigningKey>, work: (outbound: OutboundFederation) => Promise<T>): Promise<T> {
  const config = loadConfig(stringFlag(values, "config"));
  const outbound = createOutboundFederation(config, {
    signingKey: await signingKey(config),
    ...(values["no-verify-tls"] ? { verifyCertificates: false } : {}),
  });
  try {
    return await work(outbound);
  } finally {
    await outbound.close();
  }
}

/** `HTTP <status>`, then the body: pretty JSON when it is JSON, else as text. */
function printResponse(io: CliIo, status: number, body: JsonValue | string | undefined): void {
  io.stdout(`HTTP ${status}\n`);
  if (body === undefined || body === "") return;
  io.stdout(typeof body === "string" ? `${body}\n` : `${JSON.stringify(body, null, 2)}\n`);
}

function decodeBody(bytes: Buffer): JsonValue | string {
  const text = bytes.toString("utf8");
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

async function requestBody(io: CliIo, data: string | undefined): Promise<JsonValue | undefined> {
  if (data === undefined) return undefined;
  return data === "-" ? readJsonObject(io) : parseJsonObject(data, "--data");
}

const request: CliCommand = {
  name: "request",
  summary: "send a signed federation request as the configured server; print the status and the response body",
  usage: "[-X GET|PUT|POST] [--data JSON|-] --destination S [--config FILE] [--no-verify-tls] PATH",
  options: { method: { type: "string", short: "X" }, data: { type: "string" }, destination: { type: "string" }, ...OUTBOUND_OPTIONS },
  allowPositionals: true,
  async run({ values, positionals }, io) {
    const path = onePositional(positionals, "PATH");
    // The path is sent and signed exactly as given, so it must already be percent-encoded.
    if (!/^\/[\x21-\x7e]*$/.test(path)) throw new CliError(`PATH must start with / and be percent-encoded, got ${JSON.stringify(path)}`);
    const destination = requiredFlag(values, "destination");
    const data = stringFlag(values, "data");
    // As curl: POST when there is a body and no method was named.
    const method = (stringFlag(values, "method") ?? (data === undefined ? "GET" : "POST")).toUpperCase();
    if (!METHODS.includes(method as Method)) throw new CliError(`-X: federation requests are ${METHODS.join(", ")}, not ${method}`);
    if (method === "GET" && data !== undefined) throw new CliError("a GET request has no body: drop --data or use -X PUT / -X POST");
    const body = await requestBody(io, data);

    await withOutbound(values, (config) => configuredSigningKey(io, config), async (outbound) => {
      try {
        // One attempt: the operator is watching and wants the first failure, not three retries of it.
        const response = await outbound.httpClient.requestRaw(method as Method, destination, path, body, { retry: false });
        printResponse(io, response.status, decodeBody(response.body));
      } catch (e) {
        if (!(e instanceof FederationRequestError)) throw e;
        if (e.status !== undefined) printResponse(io, e.status, e.body as JsonValue | undefined);
        throw new CliError(`${e.errorClass}: ${e.message}`);
      }
    });
  },
};

const checkServerCommand: CliCommand = {
  name: "check-server",
  summary: "federation tester: discovery, connections and TLS, server keys and version of a server name",
  usage: "[--json] [--config FILE] [--no-verify-tls] NAME",
  options: { json: { type: "boolean" }, ...OUTBOUND_OPTIONS },
  allowPositionals: true,
  async run({ values, positionals }, io) {
    const serverName = onePositional(positionals, "server name");
    // The endpoints checked need no authentication: without a key file of ours, a throwaway key signs.
    const signingKey = async (config: Config) => (existsSync(config.signing_key_path) ? configuredSigningKey(io, config) : generateSigningKey());
    const report = await withOutbound(values, signingKey, (outbound) => checkServer(outbound, serverName));
    if (values.json) printJson(io, report);
    else io.stdout(formatReport(report));
    const count = report.problems.length;
    if (count > 0) throw new CliError(`${serverName}: ${count} problem${count === 1 ? "" : "s"}, first: ${report.problems[0]}`);
  },
};

const iso = (ms: number) => new Date(ms).toISOString();

function formatConnection(c: ConnectionReport, verifyCertificates: boolean): string[] {
  const label = connectionLabel(c);
  if (!c.ok) return [`  ${label}: FAILED (${c.error!.class}) ${c.error!.message}`];
  if (!c.tls) return [`  ${label}: OK, plain HTTP`];
  const t = c.tls;
  const lines = [`  ${label}: OK, ${t.protocol ?? "TLS"} ${t.cipher}${t.alpn ? `, ALPN ${t.alpn}` : ""}, SNI ${t.server_name ?? "(none: IP literal)"}`];
  if (t.certificate) {
    const cert = t.certificate;
    lines.push(
      `    subject: ${cert.subject}`,
      `    issuer:  ${cert.issuer}`,
      `    names:   ${cert.subject_alt_names.join(", ") || "(no subjectAltName)"}`,
      `    valid:   ${cert.valid_from} to ${cert.valid_to}`,
      `    sha256:  ${cert.fingerprint_sha256}`,
    );
  }
  const verdict = t.verified ? "yes" : `NO (${t.verify_error ?? "unknown reason"})${verifyCertificates ? "" : ", not required"}`;
  lines.push(`    verified: ${verdict}`, `    name:     ${t.name_matches ? "matches" : `DOES NOT MATCH (${t.name_error})`}`);
  return lines;
}

/** The report for people; `--json` prints the same object as data. */
function formatReport(report: ServerCheckReport): string {
  const lines = [`Server name: ${report.server_name}`];
  const r = report.resolution;
  if (!r) {
    lines.push(`Discovery: FAILED (${report.resolution_error!.class}) ${report.resolution_error!.message}`);
  } else {
    lines.push(`Discovery (${r.method}${r.delegated_to ? `, delegated to ${r.delegated_to}` : ""}):`, ...r.steps.map((s) => `  ${s}`));
    const filter = r.check_ip_range ? "" : ", IP range filter not applied (override)";
    const tlsName = r.scheme === "https" ? `, TLS name: ${r.tls_server_name ?? "(none: IP literal)"}` : "";
    lines.push(`  → ${r.scheme}://${r.targets.join(", ")}, Host: ${r.host_header}${tlsName}${filter}`);
    lines.push("Connections:", ...report.connections.flatMap((c) => formatConnection(c, report.verify_certificates)));
  }
  const keys = report.keys;
  if (keys?.ok) {
    lines.push(`Server keys: OK, signature verified, valid until ${iso(keys.valid_until_ts!)}`);
    for (const [id, key] of Object.entries(keys.verify_keys ?? {})) lines.push(`  ${id} ${key}`);
    for (const [id, old] of Object.entries(keys.old_verify_keys ?? {})) lines.push(`  ${id} ${old.key} (old, expired ${iso(old.expired_ts)})`);
  } else if (keys) {
    lines.push(`Server keys: FAILED (${keys.error!.class}) ${keys.error!.message}`);
  }
  const version = report.version;
  if (version?.ok) lines.push(`Version: ${[version.name, version.version].filter(Boolean).join(" ") || "(not given)"}`);
  else if (version) lines.push(`Version: FAILED (${version.error!.class}) ${version.error!.message}`);
  lines.push(report.ok ? "Result: OK" : `Result: ${report.problems.length} problem${report.problems.length === 1 ? "" : "s"}`, ...report.problems.map((p) => `  - ${p}`));
  return lines.join("\n") + "\n";
}

export const federationCommands: readonly CliCommand[] = [request, checkServerCommand];
