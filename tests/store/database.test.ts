import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openDatabase } from "../../server/store/database";
import { createTestDatabase } from "../support/postgres";

describe("database", () => {
  it("keeps data across reopening an embedded data dir, migrating only once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-db-"));
    try {
      const first = await openDatabase(`pglite:${dir}`);
      assert.ok(first.appliedMigrations.length >= 1);
      await first.prisma.destination.create({ data: { destination: "kept.test", retryInterval: 600_000n } });
      await first.close();

      const second = await openDatabase(`pglite:${dir}`);
      assert.deepEqual(second.appliedMigrations, []);
      const row = await second.prisma.destination.findUnique({ where: { destination: "kept.test" } });
      assert.equal(row?.retryInterval, 600_000n);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("records migrations in Prisma's standard table on PostgreSQL", async () => {
    const t = await createTestDatabase();
    try {
      const db = await openDatabase(t.url, { poolSize: 1 });
      const rows = await db.prisma.$queryRawUnsafe<{ migration_name: string; finished_at: Date | null }[]>(
        "SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name",
      );
      assert.deepEqual(rows.map((r) => r.migration_name), db.appliedMigrations);
      assert.ok(rows.every((r) => r.finished_at !== null));
      await db.close();
      const again = await openDatabase(t.url, { poolSize: 1 });
      assert.deepEqual(again.appliedMigrations, []);
      await again.close();
    } finally {
      await t.drop();
    }
  });
});
