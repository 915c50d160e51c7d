/**
 * Configuration: a YAML file (`--config FILE` or SWITCHYARD_CONFIG) validated with zod. Names follow Synapse's
 * where Synapse has the setting. A bad file stops start-up with one line naming the key and the problem.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve, dirname } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { DEFAULT_IP_RANGE_BLACKLIST } from "./federation/transport/ip-range";

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/** Synapse-style durations: a number of milliseconds, or "10m", "1d", "500ms". */
export const durationSchema = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d+(ms|s|m|h|d|w|y)$/, 'expected a duration such as "10m", "1d" or a number of milliseconds'),
]).transform((v) => {
  if (typeof v === "number") return v;
  const m = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(v)!;
  return Number(m[1]) * DURATION_UNITS[m[2]!]!;
});

const serverNameSchema = z.string().regex(/^[A-Za-z0-9.\-:[\]]+$/, "expected a server name such as example.org or example.org:8448");

const listenerSchema = z.object({
  host: z.string().default("127.0.0.1"),
  port: z.number().int().min(0).max(65535),
  tls_certificate_path: z.string().optional(),
  tls_private_key_path: z.string().optional(),
}).strict().refine((l) => !!l.tls_certificate_path === !!l.tls_private_key_path, {
  message: "tls_certificate_path and tls_private_key_path go together",
});

const databaseUrlSchema = z.string().refine((u) => u.startsWith("pglite:") || /^postgres(ql)?:\/\//.test(u), {
  message: 'expected "pglite:PATH", "pglite:memory" or "postgresql://..."',
});

export const configSchema = z.object({
  server_name: serverNameSchema,
  listeners: z.array(listenerSchema).min(1).default([{ host: "127.0.0.1", port: 8008 }]),
  public_baseurl: z.url().optional(),
  data_dir: z.string().default("./data"),
  signing_key_path: z.string().optional(),
  database: z.object({ url: databaseUrlSchema.optional() }).strict().default({}),
  redis: z.object({ url: z.string().regex(/^rediss?:\/\//, "expected redis://host:port") }).strict().optional(),
  instance_name: z.string().regex(/^[A-Za-z0-9_-]+$/, "use letters, digits, _ and -").default("main"),
  role: z.enum(["main", "federation_sender"]).default("main"),
  federation_sender_instances: z.array(z.string()).min(1).optional(),
  worker_replication_secret: z.string().min(1).optional(),
  /** where each process serves replication HTTP (stream catch-up), as in Synapse */
  instance_map: z.record(z.string(), z.object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    tls: z.boolean().default(false),
  }).strict()).default({}),
  /** other deployments' Redis to follow read-only (e.g. a Synapse): positions and lag shown in the console */
  replication_observers: z.array(z.object({
    server_name: serverNameSchema,
    redis_url: z.string().regex(/^rediss?:\/\//, "expected redis://host:port"),
  }).strict()).default([]),
  admin: z.object({ token: z.string().min(16, "use at least 16 characters").optional(), password: z.string().min(8).optional() }).strict().default({}),
  key_refresh_interval: durationSchema.default(86_400_000),
  old_signing_keys: z.record(z.string(), z.object({ key: z.string(), expired_ts: z.number().int() }).strict()).default({}),
  trusted_key_servers: z.array(z.object({
    server_name: serverNameSchema,
    verify_keys: z.record(z.string(), z.string()).optional(),
  }).strict()).default([]),
  federation_verify_certificates: z.boolean().default(true),
  ip_range_blacklist: z.array(z.string()).default([...DEFAULT_IP_RANGE_BLACKLIST]),
  ip_range_whitelist: z.array(z.string()).default([]),
  federation_domain_overrides: z.record(serverNameSchema, z.url()).default({}),
  serve_server_wellknown: z.boolean().default(false),
  federation: z.object({
    destination_min_retry_interval: durationSchema.default(600_000),
    destination_retry_multiplier: z.number().min(1).default(2),
    destination_max_retry_interval: durationSchema.default(604_800_000),
  }).strict().default({ destination_min_retry_interval: 600_000, destination_retry_multiplier: 2, destination_max_retry_interval: 604_800_000 }),
  /** Synapse's pacing of read receipts to the servers of large rooms */
  federation_rr_transactions_per_room_per_second: z.number().positive().default(50),
  /** Synapse's per-origin limits on inbound federation requests */
  rc_federation: z.object({
    window_size: durationSchema.default(1000),
    sleep_limit: z.number().int().min(1).default(10),
    sleep_delay: durationSchema.default(500),
    reject_limit: z.number().int().min(1).default(50),
    concurrent: z.number().int().min(1).default(3),
  }).strict().default({ window_size: 1000, sleep_limit: 10, sleep_delay: 500, reject_limit: 50, concurrent: 3 }),
  default_room_version: z.string().default("10"),
  log_level: z.enum(["debug", "info", "warn", "error"]).default("info"),
}).strict();

export type ConfigInput = z.input<typeof configSchema>;

/** The validated configuration, with paths made absolute and defaults derived from other settings. */
export type Config = Omit<z.output<typeof configSchema>, "signing_key_path" | "database" | "federation_sender_instances" | "public_baseurl"> & {
  signing_key_path: string;
  database: { url: string };
  federation_sender_instances: string[];
  public_baseurl: string;
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const key = issue.path.length ? issue.path.map(String).join(".") : "(top level)";
  if (issue.code === "unrecognized_keys") {
    const keys = (issue as { keys: string[] }).keys;
    return `${issue.path.length ? key + ": " : ""}unknown key${keys.length > 1 ? "s" : ""} ${keys.map((k) => `"${k}"`).join(", ")}`;
  }
  return `${key}: ${issue.message}`;
}

/** Validates a parsed config object; `baseDir` anchors relative paths (the config file's folder). */
export function parseConfig(raw: unknown, baseDir = process.cwd()): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(`invalid config: ${formatIssue(result.error.issues[0]!)}`);
  const c = result.data;
  if (c.redis && !c.worker_replication_secret) {
    throw new ConfigError("invalid config: worker_replication_secret: required when redis is set (processes fetch missed stream rows from each other with it)");
  }
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const dataDir = abs(c.data_dir);
  let dbUrl = c.database.url ?? `pglite:${resolve(dataDir, "db")}`;
  if (dbUrl.startsWith("pglite:") && dbUrl !== "pglite:memory") dbUrl = `pglite:${abs(dbUrl.slice("pglite:".length))}`;
  const listener = c.listeners[0]!;
  return {
    ...c,
    data_dir: dataDir,
    signing_key_path: c.signing_key_path ? abs(c.signing_key_path) : resolve(dataDir, "signing.key"),
    database: { url: dbUrl },
    federation_sender_instances: c.federation_sender_instances ?? [c.instance_name],
    public_baseurl: c.public_baseurl ?? `http${listener.tls_certificate_path ? "s" : ""}://${listener.host.includes(":") ? `[${listener.host}]` : listener.host}:${listener.port}/`,
  };
}

/** Settings given as command-line flags; they win over the file, so one file can serve several processes. */
export interface ConfigOverrides {
  role?: string;
  instance_name?: string;
  port?: number;
}

function applyOverrides(raw: Record<string, unknown>, overrides: ConfigOverrides): Record<string, unknown> {
  const out = { ...raw };
  if (overrides.role !== undefined) out.role = overrides.role;
  if (overrides.instance_name !== undefined) out.instance_name = overrides.instance_name;
  if (overrides.port !== undefined) {
    const first = Array.isArray(raw.listeners) && raw.listeners[0] && typeof raw.listeners[0] === "object" ? raw.listeners[0] : {};
    out.listeners = [{ ...first, port: overrides.port }, ...(Array.isArray(raw.listeners) ? raw.listeners.slice(1) : [])];
  }
  return out;
}

/** Reads and validates a YAML config file. Every failure is a ConfigError with a one-line message. */
export function loadConfigFile(path: string, overrides: ConfigOverrides = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (raw !== null && raw !== undefined && (typeof raw !== "object" || Array.isArray(raw))) {
    throw new ConfigError(`config file ${path}: expected a mapping of settings at the top level`);
  }
  try {
    return parseConfig(applyOverrides((raw ?? {}) as Record<string, unknown>, overrides), dirname(resolve(path)));
  } catch (e) {
    throw new ConfigError(`${path}: ${(e as Error).message}`);
  }
}

/** The config for this process: file from --config or SWITCHYARD_CONFIG, else the embedded defaults. */
export function loadConfig(configPath: string | undefined, overrides: ConfigOverrides = {}, env: Record<string, string | undefined> = process.env): Config {
  const path = configPath ?? env.SWITCHYARD_CONFIG;
  if (path) return loadConfigFile(path, overrides);
  return parseConfig(applyOverrides({ server_name: env.SWITCHYARD_SERVER_NAME ?? `localhost:${overrides.port ?? 8008}` }, overrides));
}
