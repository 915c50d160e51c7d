/**
 * Replication commands: one per line, `NAME SP args`, byte-compatible with Synapse's
 * synapse/replication/tcp/commands.py. A line is built as `NAME + " " + to_line()`, so a command without
 * arguments keeps its trailing space (`REPLICATE `). JSON inside a line is written the way Synapse's
 * `json_encoder` writes it: compact separators and ASCII only (`\u00e9`), so parse → serialize gives the
 * same bytes for every line Synapse sends.
 */
import { z } from "zod";
import type { JsonValue } from "../crypto";

export type Token = number;

export type Command =
  /** SERVER <server_name>: TCP replication greeting; carried for completeness */
  | { name: "SERVER"; data: string }
  /** RDATA <stream> <instance> <token|batch> <row json>: a row written by `instanceName`; token null = "batch" */
  | { name: "RDATA"; streamName: string; instanceName: string; token: Token | null; row: JsonValue }
  /** POSITION <stream> <instance> <prev> <new>: no rows were written by the instance between prev and new */
  | { name: "POSITION"; streamName: string; instanceName: string; prevToken: Token; newToken: Token }
  | { name: "ERROR"; data: string }
  /** PING <data>: Synapse sends a timestamp; we send `<ts> <instance>` so peers can tell who is alive */
  | { name: "PING"; data: string }
  | { name: "NAME"; data: string }
  /** REPLICATE: asks every writer to announce its positions */
  | { name: "REPLICATE" }
  /** USER_SYNC: `deviceId` undefined is the older four-field form, null is Synapse's "None" */
  | { name: "USER_SYNC"; instanceId: string; userId: string; deviceId?: string | null; isSyncing: boolean; lastSyncMs: number }
  | { name: "CLEAR_USER_SYNC"; instanceId: string }
  | { name: "FEDERATION_ACK"; instanceName: string; token: Token }
  | { name: "USER_IP"; userId: string; accessToken: string; ip: string; userAgent: string; deviceId: string | null; lastSeen: number }
  | { name: "REMOTE_SERVER_UP"; server: string }
  | { name: "LOCK_RELEASED"; instanceName: string; lockName: string; lockKey: string }
  | { name: "NEW_ACTIVE_TASK"; taskId: string }
  /** Not (yet) in Synapse's command map; shaped like NEW_ACTIVE_TASK (the task id as the whole argument) */
  | { name: "CANCEL_TASK"; taskId: string };

export type CommandName = Command["name"];
export type CommandOf<N extends CommandName> = Extract<Command, { name: N }>;

export const COMMAND_NAMES: readonly CommandName[] = [
  "SERVER", "RDATA", "POSITION", "ERROR", "PING", "NAME", "REPLICATE", "USER_SYNC", "CLEAR_USER_SYNC",
  "FEDERATION_ACK", "USER_IP", "REMOTE_SERVER_UP", "LOCK_RELEASED", "NEW_ACTIVE_TASK", "CANCEL_TASK",
];

export class CommandParseError extends Error {
  constructor(message: string, readonly line: string, readonly unknownCommand = false) {
    super(message);
    this.name = "CommandParseError";
  }
}

/** Python's `str.split(sep, maxsplit)`: at most maxsplit cuts, the remainder kept whole in the last part. */
function splitN(text: string, maxSplit: number): string[] {
  const parts: string[] = [];
  let rest = text;
  while (parts.length < maxSplit) {
    const i = rest.indexOf(" ");
    if (i < 0) break;
    parts.push(rest.slice(0, i));
    rest = rest.slice(i + 1);
  }
  parts.push(rest);
  return parts;
}

const INTEGER = /^-?\d+$/;

function parseToken(text: string, what: string, line: string): number {
  if (!INTEGER.test(text)) throw new CommandParseError(`${what} is not an integer: ${JSON.stringify(text)}`, line);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new CommandParseError(`${what} is out of range: ${text}`, line);
  return n;
}

function parseJson(text: string, what: string, line: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new CommandParseError(`${what} is not JSON: ${(e as Error).message}`, line);
  }
}

function expectParts(parts: string[], count: number, name: string, line: string): void {
  if (parts.length !== count) throw new CommandParseError(`${name} expects ${count} arguments, got ${parts.length}`, line);
}

const userIpSchema = z.tuple([z.string(), z.string(), z.string(), z.string().nullable(), z.number().int()]);
const lockReleasedSchema = z.tuple([z.string(), z.string(), z.string()]);

/** Parses one line (without its line ending). Throws CommandParseError; `unknownCommand` marks an unknown name. */
export function parseCommand(line: string): Command {
  const space = line.indexOf(" ");
  const name = space < 0 ? line : line.slice(0, space);
  const rest = space < 0 ? "" : line.slice(space + 1);
  switch (name) {
    case "SERVER":
    case "ERROR":
    case "PING":
    case "NAME":
      return { name, data: rest };
    case "REMOTE_SERVER_UP":
      return { name, server: rest };
    case "NEW_ACTIVE_TASK":
    case "CANCEL_TASK":
      return { name, taskId: rest };
    case "REPLICATE":
      return { name };
    case "CLEAR_USER_SYNC":
      return { name, instanceId: rest };
    case "RDATA": {
      const parts = splitN(rest, 3);
      expectParts(parts, 4, name, line);
      const [streamName, instanceName, token, rowJson] = parts as [string, string, string, string];
      return {
        name, streamName, instanceName,
        token: token === "batch" ? null : parseToken(token, "RDATA token", line),
        row: parseJson(rowJson, "RDATA row", line),
      };
    }
    case "POSITION": {
      const parts = splitN(rest, 3);
      expectParts(parts, 4, name, line);
      const [streamName, instanceName, prev, next] = parts as [string, string, string, string];
      return { name, streamName, instanceName, prevToken: parseToken(prev, "POSITION prev_token", line), newToken: parseToken(next, "POSITION new_token", line) };
    }
    case "USER_SYNC": {
      const parts = splitN(rest, 4);
      // Older Synapse sent `instance user state ts`; newer versions put the device between user and state.
      if (parts.length !== 4 && parts.length !== 5) throw new CommandParseError(`USER_SYNC expects 4 or 5 arguments, got ${parts.length}`, line);
      const [instanceId, userId] = parts as [string, string];
      const state = parts[parts.length - 2]!;
      if (state !== "start" && state !== "end") throw new CommandParseError(`Invalid USER_SYNC state ${JSON.stringify(state)}`, line);
      const lastSyncMs = parseToken(parts[parts.length - 1]!, "USER_SYNC last_sync_ms", line);
      if (parts.length === 4) return { name, instanceId, userId, isSyncing: state === "start", lastSyncMs };
      const device = parts[2]!;
      return { name, instanceId, userId, deviceId: device === "None" ? null : device, isSyncing: state === "start", lastSyncMs };
    }
    case "FEDERATION_ACK": {
      const parts = rest.split(" ");
      expectParts(parts, 2, name, line);
      return { name, instanceName: parts[0]!, token: parseToken(parts[1]!, "FEDERATION_ACK token", line) };
    }
    case "USER_IP": {
      const parts = splitN(rest, 1);
      expectParts(parts, 2, name, line);
      const fields = userIpSchema.safeParse(parseJson(parts[1]!, "USER_IP data", line));
      if (!fields.success) throw new CommandParseError("USER_IP data is not [access_token, ip, user_agent, device_id, last_seen]", line);
      const [accessToken, ip, userAgent, deviceId, lastSeen] = fields.data;
      return { name, userId: parts[0]!, accessToken, ip, userAgent, deviceId, lastSeen };
    }
    case "LOCK_RELEASED": {
      const fields = lockReleasedSchema.safeParse(parseJson(rest, "LOCK_RELEASED data", line));
      if (!fields.success) throw new CommandParseError("LOCK_RELEASED data is not [instance_name, lock_name, lock_key]", line);
      const [instanceName, lockName, lockKey] = fields.data;
      return { name, instanceName, lockName, lockKey };
    }
    default:
      throw new CommandParseError(`Unknown replication command ${JSON.stringify(name.slice(0, 64))}`, line, true);
  }
}

const NON_ASCII = /[\u007f-\uffff]/;
const NON_ASCII_ALL = /[\u007f-\uffff]/g;

/**
 * JSON as Synapse's `json_encoder` writes it (Python's JSONEncoder with separators=(",", ":") and the default
 * ensure_ascii): JSON.stringify already matches Python's escapes for `"`, `\`, control characters and lone
 * surrogates; Python additionally escapes everything outside printable ASCII as lowercase \uXXXX.
 * Two differences cannot arise from Synapse's rows: floats such as 1.0 (JavaScript prints 1) and objects
 * with integer-like keys (JavaScript orders those first).
 */
export function encodeJson(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError("value is not JSON-serialisable");
  // Most lines are pure ASCII: a plain test is much cheaper than a replace with a callback.
  return NON_ASCII.test(text) ? text.replace(NON_ASCII_ALL, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")) : text;
}

function argumentsOf(command: Command): string {
  switch (command.name) {
    case "SERVER":
    case "ERROR":
    case "PING":
    case "NAME":
      return command.data;
    case "REMOTE_SERVER_UP":
      return command.server;
    case "NEW_ACTIVE_TASK":
    case "CANCEL_TASK":
      return command.taskId;
    case "REPLICATE":
      return "";
    case "CLEAR_USER_SYNC":
      return command.instanceId;
    case "RDATA":
      return [command.streamName, command.instanceName, command.token === null ? "batch" : String(command.token), encodeJson(command.row)].join(" ");
    case "POSITION":
      return [command.streamName, command.instanceName, String(command.prevToken), String(command.newToken)].join(" ");
    case "USER_SYNC": {
      const state = command.isSyncing ? "start" : "end";
      if (command.deviceId === undefined) return [command.instanceId, command.userId, state, String(command.lastSyncMs)].join(" ");
      return [command.instanceId, command.userId, command.deviceId ?? "None", state, String(command.lastSyncMs)].join(" ");
    }
    case "FEDERATION_ACK":
      return `${command.instanceName} ${command.token}`;
    case "USER_IP":
      return `${command.userId} ${encodeJson([command.accessToken, command.ip, command.userAgent, command.deviceId, command.lastSeen])}`;
    case "LOCK_RELEASED":
      return encodeJson([command.instanceName, command.lockName, command.lockKey]);
  }
}

export class CommandSerializeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CommandSerializeError";
  }
}

/** The wire line (no line ending). Throws if an argument would break the line, as Synapse does. */
export function serializeCommand(command: Command): string {
  const line = `${command.name} ${argumentsOf(command)}`;
  if (/[\r\n]/.test(line)) throw new CommandSerializeError(`unexpected line break in ${command.name} command`);
  return line;
}

/** The Redis channel a command is published on: `<server_name>`, or `<server_name>/USER_IP` for USER_IP. */
export function redisChannel(command: Command, prefix: string): string {
  return command.name === "USER_IP" ? `${prefix}/USER_IP` : prefix;
}

/** Our keepalive PING data: `<ts> <instance>` (Synapse's TCP PING carries only the timestamp). */
export function pingData(ts: number, instanceName: string): string {
  return `${ts} ${instanceName}`;
}

/** The instance named in a PING, if it is one of ours. */
export function pingInstance(data: string): string | undefined {
  const m = /^\d+ (\S+)$/.exec(data);
  return m?.[1];
}
