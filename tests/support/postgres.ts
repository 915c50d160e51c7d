/** A fresh PostgreSQL database per test file on the real server, dropped afterwards. */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type Database } from "../../server/store/database";

export const POSTGRES_ADMIN_URL = process.env.SWITCHYARD_TEST_POSTGRES ?? "postgresql://postgres@127.0.0.1:5432/postgres";

export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `switchyard_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export type TestDatabaseKind = "pglite" | "postgresql";

/** An opened, migrated database of either kind, for tests that run the same assertions on both. */
export async function openTestDatabase(kind: TestDatabaseKind): Promise<{ db: Database; close(): Promise<void> }> {
  if (kind === "pglite") {
    const db = await openDatabase("pglite:memory");
    return { db, close: () => db.close() };
  }
  const t = await createTestDatabase();
  const db = await openDatabase(t.url, { poolSize: 2 });
  return {
    db,
    async close() {
      await db.close();
      await t.drop();
    },
  };
}
