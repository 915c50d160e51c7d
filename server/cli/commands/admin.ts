/**
 * `admin`: the running server's console API (tRPC over HTTP, DESIGN.md §6) from the command line, in the spirit of
 * synadm. `admin <procedure> [JSON]` calls any procedure and prints its JSON result; `admin destinations
 * list|show|retry|reset` and `admin replication positions` print tables (or the JSON with --json). The server is
 * `--url` or the config's public_baseurl; the token is `--token`, the config's admin.token or data_dir/admin_token.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { formatDuration } from "../../../components/format";
import { ADMIN_TOKEN_FILE } from "../../admin-token";
import { ConfigError, loadConfig } from "../../config";
import { CliError, parseJsonObject, stringFlag, type CliCommand, type CliIo, type FlagValues } from "../command";
import type { DestinationStatus } from "../../federation/sender/destination-status";

type JsonRecord = Record<string, unknown>;

/** API answers as one line of JSON (not canonical JSON: they may hold floats, e.g. event content). */
function printJson(io: CliIo, value: unknown): void {
  io.stdout(JSON.stringify(value) + "\n");
}

/** One tRPC endpoint reached with the admin token. */
export class AdminApiClient {
  constructor(private readonly baseUrl: string, private readonly token: string) {}

  /** A query (GET); a procedure that turns out to be a mutation (405) is sent again as one (POST). */
  async call(procedure: string, input?: unknown): Promise<unknown> {
    const query = input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`;
    const answer = await this.send(procedure, `${this.url(procedure)}${query}`, { method: "GET" });
    if (answer.status !== 405) return this.result(procedure, answer);
    return this.mutate(procedure, input);
  }

  async mutate(procedure: string, input?: unknown): Promise<unknown> {
    const body = JSON.stringify(input ?? {});
    return this.result(procedure, await this.send(procedure, this.url(procedure), { method: "POST", body, headers: { "Content-Type": "application/json" } }));
  }

  private url(procedure: string): string {
    return new URL(`api/trpc/${encodeURIComponent(procedure)}`, this.baseUrl.endsWith("/") ? this.baseUrl : `${this.baseUrl}/`).toString();
  }

  private async send(procedure: string, url: string, init: RequestInit): Promise<{ status: number; body: JsonRecord | null; text: string }> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${this.token}` } });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach the server at ${this.baseUrl} (${cause?.code ?? cause?.message ?? (e as Error).message}); is it running? (--url)`);
    }
    if (res.headers.get("content-type")?.startsWith("text/event-stream")) {
      await res.body?.cancel();
      throw new CliError(`${procedure} is a subscription (a live stream for the console); call the matching query instead`);
    }
    const text = await res.text();
    let body: JsonRecord | null = null;
    try {
      body = JSON.parse(text) as JsonRecord;
    } catch {
      // not tRPC: said below
    }
    if (res.status === 404 && !body) throw new CliError(`${this.baseUrl} has no console API (HTTP 404); is --url the Switchyard server?`);
    return { status: res.status, body, text };
  }

  private result(procedure: string, answer: { status: number; body: JsonRecord | null; text: string }): unknown {
    const error = answer.body?.error as { message?: string; data?: { code?: string } } | undefined;
    if (answer.status === 401) throw new CliError(`the server refused the admin token (HTTP 401): pass --token or check the config's admin token`);
    if (error) throw new CliError(`${procedure}: ${error.message ?? "failed"} (${error.data?.code ?? `HTTP ${answer.status}`})`);
    const result = answer.body?.result as { data?: unknown } | undefined;
    if (!answer.body || !result) throw new CliError(`${procedure}: unexpected answer (HTTP ${answer.status}): ${answer.text.slice(0, 200)}`);
    return result.data ?? null;
  }
}

/** The server and token from the flags, else from the config (--config or SWITCHYARD_CONFIG). */
function clientFor(values: FlagValues): AdminApiClient {
  let url = stringFlag(values, "url");
  let token = stringFlag(values, "token");
  if (url === undefined || token === undefined) {
    let config;
    try {
      config = loadConfig(stringFlag(values, "config"));
    } catch (e) {
      if (e instanceof ConfigError) throw new CliError(e.message);
      throw e;
    }
    url ??= config.public_baseurl;
    token ??= config.admin.token ?? readTokenFile(join(config.data_dir, ADMIN_TOKEN_FILE));
  }
  return new AdminApiClient(url, token);
}

function readTokenFile(path: string): string {
  // the server writes it on first start; the CLI never creates one
  if (!existsSync(path)) throw new CliError(`no admin token: pass --token, or --config of a server that has started once (looked for ${path})`);
  return readFileSync(path, "utf8").trim();
}

/** Columns padded to their widest cell, a header line, and a rule under it. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n") + "\n";
}

const dash = (v: string | null | undefined) => (v === null || v === undefined || v === "" ? "-" : v);
const ago = (ts: number | null, now: number) => (ts === null || ts === 0 ? "-" : `${formatDuration(now - ts)} ago`);
const oneLine = (text: string, max: number) => {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

/** A destination as `destinations.list` returns it; `destinations.get` adds the outbox counts. */
type DestinationJson = DestinationStatus & { pending_to_device?: number; pending_device_list_updates?: number };

function describeError(e: DestinationJson["last_error"]): string {
  return e ? `${e.error_class}: ${e.message}` : "-";
}

function printDestinationList(io: CliIo, page: { destinations: DestinationJson[]; total: number; next_cursor: string | null; now: number }, start: number): void {
  const now = page.now;
  io.stdout(formatTable(
    ["DESTINATION", "STATE", "NEXT RETRY", "INTERVAL", "FAILING SINCE", "PDUS", "EDUS", "LAST ERROR"],
    page.destinations.map((d) => [
      d.destination, d.state.replace(/_/g, " "),
      d.next_retry_ts === null ? "-" : d.next_retry_ts <= now ? "due" : `in ${formatDuration(d.next_retry_ts - now)}`,
      d.retry_interval > 0 ? formatDuration(d.retry_interval) : "-",
      ago(d.failure_ts, now), String(d.pending_pdus), String(d.pending_edus), oneLine(describeError(d.last_error), 60),
    ]),
  ));
  const shown = page.destinations.length;
  const range = shown === 0 ? "none" : `${start + 1}-${start + shown}`;
  io.stdout(`${range} of ${page.total}${page.next_cursor ? ` (next page: --cursor ${page.next_cursor})` : ""}\n`);
}

function printDestination(io: CliIo, d: DestinationJson, now: number): void {
  const lines: [string, string][] = [
    ["destination", d.destination],
    ["state", d.state.replace(/_/g, " ")],
    ["sent by", d.owner],
    ["next retry", d.next_retry_ts === null ? "-" : d.next_retry_ts <= now ? "due" : `in ${formatDuration(d.next_retry_ts - now)}`],
    ["retry interval", d.retry_interval > 0 ? formatDuration(d.retry_interval) : "-"],
    ["failing since", ago(d.failure_ts, now)],
    ["last success", ago(d.last_success_ts, now)],
    ["last acknowledged PDU", dash(d.last_successful_stream_ordering?.toString())],
    ["rooms", String(d.room_count)],
    ["pending PDUs", String(d.pending_pdus)],
    ["pending EDUs", Object.keys(d.pending_edus_by_type).length === 0 ? "0" : Object.entries(d.pending_edus_by_type).map(([t, n]) => `${t} ${n}`).join(", ")],
    ["to-device waiting", String(d.pending_to_device ?? 0)],
    ["device-list updates waiting", String(d.pending_device_list_updates ?? 0)],
    ["in flight", d.in_flight ? `${d.in_flight.txn_id} (${d.in_flight.pdus} PDUs, ${d.in_flight.edus} EDUs, ${formatDuration(now - d.in_flight.started_at)})` : "-"],
    ["last error", d.last_error ? `${describeError(d.last_error)} (${ago(d.last_error.at, now)})` : "-"],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  io.stdout(lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n") + "\n");
}

interface PositionsJson {
  ts: number;
  instances: { name: string; alive: boolean; self: boolean; lastSeenTs: number | null }[];
  writers: { stream: string; instance: string; token: number }[];
  consumers: { stream: string; writer: string; consumer: string; token: number; writerToken: number | null; lagTokens: number | null; lagMs: number | null; stalled: boolean }[];
}

function printPositions(io: CliIo, p: PositionsJson): void {
  io.stdout(formatTable(
    ["INSTANCE", "ALIVE", "LAST SEEN"],
    p.instances.map((i) => [`${i.name}${i.self ? " (this process)" : ""}`, i.alive ? "yes" : "NO", ago(i.lastSeenTs, p.ts)]),
  ));
  io.stdout("\n");
  io.stdout(formatTable(
    ["STREAM", "WRITER", "POSITION", "CONSUMER", "PROCESSED", "LAG", "LAG TIME", "STALLED"],
    [
      ...p.writers.flatMap((w) => {
        const consumers = p.consumers.filter((c) => c.stream === w.stream && c.writer === w.instance);
        if (consumers.length === 0) return [[w.stream, w.instance, String(w.token), "-", "-", "-", "-", ""]];
        return consumers.map((c) => [
          w.stream, w.instance, String(w.token), c.consumer, String(c.token), dash(c.lagTokens?.toString()),
          c.lagMs === null ? "-" : formatDuration(c.lagMs), c.stalled ? "STALLED" : "",
        ]);
      }),
      // consumers of writers we have not heard from
      ...p.consumers.filter((c) => !p.writers.some((w) => w.stream === c.stream && w.instance === c.writer)).map((c) => [
        c.stream, c.writer, "?", c.consumer, String(c.token), "-", "-", c.stalled ? "STALLED" : "",
      ]),
    ],
  ));
}

function expectPositionals(positionals: string[], count: number, usage: string): void {
  if (positionals.length !== count) throw new CliError(`usage: admin ${usage}`);
}

const listInput = (values: FlagValues) => {
  const limit = stringFlag(values, "limit");
  if (limit !== undefined && !/^\d+$/.test(limit)) throw new CliError(`--limit: expected a number, got ${JSON.stringify(limit)}`);
  return {
    ...(stringFlag(values, "state") ? { state: stringFlag(values, "state") } : {}),
    ...(stringFlag(values, "search") ? { search: stringFlag(values, "search") } : {}),
    ...(stringFlag(values, "order-by") ? { order_by: stringFlag(values, "order-by") } : {}),
    ...(stringFlag(values, "dir") ? { dir: stringFlag(values, "dir") } : {}),
    ...(stringFlag(values, "cursor") ? { cursor: stringFlag(values, "cursor") } : {}),
    limit: limit === undefined ? 50 : Number(limit),
  };
};

async function destinations(client: AdminApiClient, values: FlagValues, args: string[], io: CliIo): Promise<void> {
  const [action, ...rest] = args;
  const json = values.json === true;
  switch (action) {
    case "list": {
      expectPositionals(rest, 0, "destinations list [--state S] [--search TEXT] [--order-by COLUMN] [--dir f|b] [--limit N] [--cursor C]");
      const input = listInput(values);
      const page = await client.call("destinations.list", input) as Parameters<typeof printDestinationList>[1];
      if (json) printJson(io, page);
      else printDestinationList(io, page, input.cursor ? Number(input.cursor) : 0);
      return;
    }
    case "show": {
      expectPositionals(rest, 1, "destinations show NAME");
      const d = await client.call("destinations.get", { destination: rest[0] }) as DestinationJson;
      if (json) printJson(io, d);
      else printDestination(io, d, Date.now());
      return;
    }
    case "retry": {
      expectPositionals(rest, 1, "destinations retry NAME");
      const r = await client.mutate("destinations.retryNow", { destination: rest[0] }) as { destination: string; owner: string; was_backing_off: boolean; woken: boolean };
      if (json) printJson(io, r);
      else io.stdout(`${r.destination}: ${r.was_backing_off ? "retry timings cleared" : "was not backing off"}; ${r.woken ? "its queue was started" : `sent by ${r.owner}, which picks it up`}\n`);
      return;
    }
    case "reset": {
      expectPositionals(rest, 1, "destinations reset NAME");
      const r = await client.mutate("destinations.reset", { destination: rest[0] });
      if (json) printJson(io, r);
      else io.stdout(`${rest[0]}: retry timings reset\n`);
      return;
    }
    default:
      throw new CliError(`destinations: expected list, show NAME, retry NAME or reset NAME${action ? `, got ${JSON.stringify(action)}` : ""}`);
  }
}

async function replication(client: AdminApiClient, values: FlagValues, args: string[], io: CliIo): Promise<void> {
  if (args[0] !== "positions" || args.length !== 1) throw new CliError("replication: expected positions [--deployment SERVER_NAME]");
  const deployment = stringFlag(values, "deployment");
  const p = await client.call("replication.positions", deployment ? { deployment } : {}) as PositionsJson;
  if (values.json) printJson(io, p);
  else printPositions(io, p);
}

const admin: CliCommand = {
  name: "admin",
  summary: "call the running server's console API: destinations list|show|retry|reset, replication positions, or <procedure> [JSON]",
  usage: "[--url URL] [--token T] [--config FILE] [--json] (destinations list|show NAME|retry NAME|reset NAME | replication positions | PROCEDURE [JSON])",
  options: {
    url: { type: "string" }, token: { type: "string" }, config: { type: "string" }, json: { type: "boolean" },
    state: { type: "string" }, search: { type: "string" }, "order-by": { type: "string" }, dir: { type: "string" },
    limit: { type: "string" }, cursor: { type: "string" }, deployment: { type: "string" },
  },
  allowPositionals: true,
  async run({ values, positionals }, io) {
    const [first, ...rest] = positionals;
    if (first === undefined) throw new CliError("admin: expected destinations, replication or a procedure name such as server.health");
    if (first === "destinations") return destinations(clientFor(values), values, rest, io);
    if (first === "replication") return replication(clientFor(values), values, rest, io);
    if (!/^[A-Za-z]+(\.[A-Za-z]+)+$/.test(first)) throw new CliError(`admin: unknown ${JSON.stringify(first)}; expected destinations, replication or a procedure name such as server.health`);
    if (rest.length > 1) throw new CliError("admin PROCEDURE takes one JSON argument (quote it)");
    const input = rest[0] === undefined ? undefined : parseJsonObject(rest[0], "the JSON argument");
    printJson(io, await clientFor(values).call(first, input));
  },
};

export const adminCommands: readonly CliCommand[] = [admin];
