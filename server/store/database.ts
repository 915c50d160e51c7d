/**
 * Opens the database named by `database.url`: PGlite in-process for `pglite:PATH` / `pglite:memory` (the embedded
 * default), a PostgreSQL server for `postgresql://...`. Both speak the same schema through Prisma driver adapters.
 */
import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaPg } from "@prisma/adapter-pg";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { PrismaClient } from "./generated/client";
import { applyMigrations } from "./migrate";

export type { PrismaClient } from "./generated/client";

export interface Database {
  prisma: PrismaClient;
  kind: "pglite" | "postgresql";
  /** migration names applied while opening (empty when the schema was already current) */
  appliedMigrations: string[];
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Most queries are tiny; a few connections keep one process from starving PostgreSQL's limit. */
  poolSize?: number;
}

export async function openDatabase(url: string, options: OpenDatabaseOptions = {}): Promise<Database> {
  let factory: SqlMigrationAwareDriverAdapterFactory;
  let closeDriver: () => Promise<void>;
  let kind: Database["kind"];
  if (url.startsWith("pglite:")) {
    const path = url.slice("pglite:".length);
    if (path !== "memory") mkdirSync(path, { recursive: true });
    const pg = path === "memory" ? new PGlite() : new PGlite(path);
    await pg.waitReady;
    factory = new PrismaPGlite(pg);
    closeDriver = () => pg.close();
    kind = "pglite";
  } else {
    factory = new PrismaPg({ connectionString: url, max: options.poolSize ?? 10 });
    closeDriver = async () => {};
    kind = "postgresql";
  }
  const appliedMigrations = await applyMigrations(factory);
  const prisma = new PrismaClient({ adapter: factory });
  return {
    prisma,
    kind,
    appliedMigrations,
    async close() {
      await prisma.$disconnect();
      await closeDriver();
    },
  };
}
