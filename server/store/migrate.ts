/**
 * Applies prisma/migrations at start-up without the Prisma CLI's native engine (which would be downloaded):
 * Prisma's own schema engine compiled to WASM runs the migrations through the active driver adapter and records
 * them in the standard `_prisma_migrations` table, so `prisma migrate status/deploy` agree with it.
 */
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bindMigrationAwareSqlAdapterFactory, type SqlDriverAdapter, type SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import * as bg from "@prisma/schema-engine-wasm/schema_engine_bg";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SCHEMA_PATH = join(ROOT, "prisma/schema.prisma");
export const MIGRATIONS_DIR = join(ROOT, "prisma/migrations");
const NO_FILTERS = { externalTables: [], externalEnums: [] };

let wasmReady: Promise<void> | undefined;

/** Instantiates the WASM schema engine once per process. */
function loadWasm(): Promise<void> {
  wasmReady ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmPath = join(dirname(require.resolve("@prisma/schema-engine-wasm/schema_engine_bg")), "schema_engine_bg.wasm");
    // The engine's connection pool arms a ~10 s idle timer that would keep every short-lived process (CLI, tests)
    // alive after the migrations are done: unref the timers it sets.
    const imports: Record<string, unknown> = { ...bg };
    for (const [name, fn] of Object.entries(bg)) {
      if (name.startsWith("__wbg_setTimeout_") && typeof fn === "function") {
        imports[name] = (...args: unknown[]) => {
          const timer = (fn as (...a: unknown[]) => unknown)(...args);
          (timer as { unref?: () => void } | undefined)?.unref?.();
          return timer;
        };
      }
    }
    const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), { "./schema_engine_bg.js": imports as WebAssembly.ModuleImports });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start?: () => void }).__wbindgen_start?.();
  })();
  return wasmReady;
}

/**
 * The engine, and a close that frees it and the connections it opened. engine.free() leaves them open, and on
 * PostgreSQL the engine's connection holds Prisma's migration advisory lock: every other process starting on the
 * same database (main and its federation senders) would wait 10 s for it.
 */
async function createEngine(adapter: SqlMigrationAwareDriverAdapterFactory): Promise<{ engine: bg.SchemaEngine; close(): Promise<void> }> {
  await loadWasm();
  const schema = readFileSync(SCHEMA_PATH, "utf8");
  const opened: SqlDriverAdapter[] = [];
  const track = (connection: SqlDriverAdapter) => {
    opened.push(connection);
    return connection;
  };
  const factory = bindMigrationAwareSqlAdapterFactory({
    provider: adapter.provider,
    adapterName: adapter.adapterName,
    connect: async () => track(await adapter.connect()),
    connectToShadowDb: async () => track(await adapter.connectToShadowDb()),
  });
  const engine = await bg.SchemaEngine.new({ datamodels: [[SCHEMA_PATH, schema]] }, () => {}, factory);
  return {
    engine,
    async close() {
      engine.free();
      await Promise.all(opened.map((c) => c.dispose()));
    },
  };
}

function readMigrations(): bg.MigrationList {
  const dirs = existsSync(MIGRATIONS_DIR)
    ? readdirSync(MIGRATIONS_DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()
    : [];
  const lockPath = join(MIGRATIONS_DIR, "migration_lock.toml");
  return {
    baseDir: MIGRATIONS_DIR,
    lockfile: { path: "migration_lock.toml", content: existsSync(lockPath) ? readFileSync(lockPath, "utf8") : null },
    shadowDbInitScript: "",
    migrationDirectories: dirs.map((dir) => ({
      path: dir,
      migrationFile: { path: "migration.sql", content: { tag: "ok", value: readFileSync(join(MIGRATIONS_DIR, dir, "migration.sql"), "utf8") } },
    })),
  } as bg.MigrationList;
}

/** Applies pending migrations; returns the names applied (none when the database is current). */
export async function applyMigrations(adapter: SqlMigrationAwareDriverAdapterFactory): Promise<string[]> {
  const { engine, close } = await createEngine(adapter);
  try {
    const out = await engine.applyMigrations({ migrationsList: readMigrations(), filters: NO_FILTERS });
    return out.appliedMigrationNames;
  } finally {
    await close();
  }
}

/**
 * The SQL that takes a database from schema `fromText` (or empty) to the current schema.prisma. The engine queries
 * its database's version when created, so even a pure diff needs one (a throwaway PGlite does).
 */
export async function diffSchema(fromText: string | null, adapter: SqlMigrationAwareDriverAdapterFactory): Promise<string> {
  const { engine, close } = await createEngine(adapter);
  try {
    const to = { tag: "schemaDatamodel", files: [{ path: SCHEMA_PATH, content: readFileSync(SCHEMA_PATH, "utf8") }] };
    const from = fromText === null ? { tag: "empty" } : { tag: "schemaDatamodel", files: [{ path: SCHEMA_PATH, content: fromText }] };
    const result = await engine.diff({ from, to, script: true, exitCode: null, filters: NO_FILTERS } as unknown as bg.DiffParams);
    return result.stdout ?? "";
  } finally {
    await close();
  }
}
