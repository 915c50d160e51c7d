import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Database } from "../../server/store/database";
import { ServerKeyStore, type StoredServerKey } from "../../server/store/server-key-store";
import { openTestDatabase } from "../support/postgres";

const key = (over: Partial<StoredServerKey> = {}): StoredServerKey => ({
  serverName: "remote.test", keyId: "ed25519:a", verifyKey: "AAAA", validUntilTs: 2_000_000_000_000,
  fetchedTs: 1_700_000_000_000, fromServer: "remote.test", keyJson: "{}", ...over,
});

// The same repository tests run against the embedded database and the PostgreSQL server.
for (const kind of ["pglite", "postgresql"] as const) {
  describe(`ServerKeyStore on ${kind}`, () => {
    let db: Database;
    let close = async () => {};
    before(async () => {
      ({ db, close } = await openTestDatabase(kind));
    });
    after(async () => {
      await close();
    });

    it("applies the migrations on first open", () => {
      assert.ok(db.appliedMigrations.length >= 1);
      assert.equal(db.kind, kind);
    });

    it("stores and reads keys with millisecond timestamps beyond 32 bits", async () => {
      const store = new ServerKeyStore(db.prisma);
      await store.storeKeys([key(), key({ keyId: "ed25519:b", verifyKey: "BBBB" })]);
      const keys = await store.getKeys("remote.test");
      assert.deepEqual(keys.map((k) => k.keyId), ["ed25519:a", "ed25519:b"]);
      assert.equal(keys[0]!.validUntilTs, 2_000_000_000_000);
      assert.equal((await store.getKey("remote.test", "ed25519:b"))?.verifyKey, "BBBB");
      assert.equal(await store.getKey("remote.test", "ed25519:zzz"), null);
    });

    it("keeps the copy that is valid for longer", async () => {
      const store = new ServerKeyStore(db.prisma);
      await store.storeKeys([key({ serverName: "keep.test", validUntilTs: 5000, keyJson: "long" })]);
      await store.storeKeys([key({ serverName: "keep.test", validUntilTs: 4000, keyJson: "short" })]);
      assert.equal((await store.getKey("keep.test", "ed25519:a"))?.keyJson, "long");
      await store.storeKeys([key({ serverName: "keep.test", validUntilTs: 6000, keyJson: "longer" })]);
      assert.equal((await store.getKey("keep.test", "ed25519:a"))?.keyJson, "longer");
    });

    it("lists servers with key counts", async () => {
      const store = new ServerKeyStore(db.prisma);
      const servers = await store.listServers();
      assert.deepEqual(servers.find((s) => s.serverName === "remote.test")?.keys, 2);
    });
  });
}
