/**
 * What a CLI command is, and the small helpers commands share. A command declares its flags for
 * node:util parseArgs and gets its input and output through CliIo, so tests can run it without a process.
 */
import type { ParseArgsConfig } from "node:util";
import { canonicalJson, parseStrictJson, parseSigningKeyFile, type JsonObject, type SigningKey } from "../crypto";

/** A mistake of the user's (bad flag, bad input): printed as one `error: ...` line, exit status 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

export interface CliIo {
  /** The whole of standard input; rejects when there is none to read (a terminal). */
  readStdin(): Promise<string>;
  readFile(path: string): Promise<string>;
  stdout(text: string): void;
  stderr(text: string): void;
}

export type FlagValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

export interface CliCommand {
  name: string;
  /** one line for the command list */
  summary: string;
  /** the flags and arguments, e.g. "--room-version V" */
  usage: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  allowPositionals?: boolean;
  run(args: { values: FlagValues; positionals: string[] }, io: CliIo): Promise<void>;
}

export function stringFlag(values: FlagValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

export function requiredFlag(values: FlagValues, name: string): string {
  const value = stringFlag(values, name);
  if (value === undefined || value === "") throw new CliError(`--${name} is required`);
  return value;
}

/**
 * Reads one JSON object from standard input, refusing what canonical JSON cannot represent. `lenient` accepts
 * number literals such as `1e10` or `2.0` that denote safe integers (the spec's canonical JSON examples do);
 * events are read strictly, as Synapse reads them in room versions 6 and later.
 */
export async function readJsonObject(io: CliIo, { lenient = false }: { lenient?: boolean } = {}): Promise<JsonObject> {
  return parseJsonObject(await io.readStdin(), "standard input", { lenient });
}

/** One JSON object from `text`; `source` names where it came from in the errors ("standard input", "--data"). */
export function parseJsonObject(text: string, source: string, { lenient = false }: { lenient?: boolean } = {}): JsonObject {
  if (text.trim() === "") throw new CliError(`expected a JSON object on ${source}, got nothing`);
  let value: unknown;
  try {
    value = lenient ? JSON.parse(text) : parseStrictJson(text);
  } catch (e) {
    if (e instanceof SyntaxError) throw new CliError(`${source} is not valid JSON: ${e.message}`);
    throw e;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CliError(`expected a JSON object on ${source}, got ${Array.isArray(value) ? "an array" : typeof value}`);
  }
  return value as JsonObject;
}

/** JSON results go out as canonical JSON on one line, so they can be compared and piped byte for byte. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout(canonicalJson(value) + "\n");
}

/** The keys of a Synapse signing key file; Synapse signs with the first. */
export async function readSigningKeys(io: CliIo, path: string): Promise<SigningKey[]> {
  let text: string;
  try {
    text = await io.readFile(path);
  } catch (e) {
    throw new CliError(`cannot read key file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return parseSigningKeyFile(text);
  } catch (e) {
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
}
