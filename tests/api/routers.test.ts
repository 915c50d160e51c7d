import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TRPCError } from "@trpc/server";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { SESSION_COOKIE, createSessionToken } from "../../server/api/auth";
import { appRouter, createCaller } from "../../server/api/root";
import { createTRPCContext } from "../../server/api/trpc";
import { parseConfig } from "../../server/config";
import { HomeServer } from "../../server/homeserver";
import type { KeyFetcher } from "../../server/keys/keyring";
import { createLogger } from "../../server/log";
import { ServerKeyStore } from "../../server/store/server-key-store";

// the console only reads the key cache; reaching out to another server would be a bug
const noNetwork: KeyFetcher = {
  fetchServerKeys: () => Promise.reject(new Error("no network in this test")),
  queryNotary: () => Promise.reject(new Error("no network in this test")),
};

let hs: HomeServer;
let dataDir: string;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "switchyard-api-"));
  const config = parseConfig({
    server_name: "test.local",
    data_dir: dataDir,
    database: { url: "pglite:memory" },
    old_signing_keys: { "ed25519:old": { key: "l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ", expired_ts: 1_600_000_000_000 } },
  });
  hs = await HomeServer.create(config, { log: createLogger("error"), keyFetcher: noNetwork });
});

after(async () => {
  await hs.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<TRPCError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof TRPCError, `expected a TRPCError, got ${e}`);
    return e;
  }
  assert.fail("expected the call to be rejected");
}

describe("admin procedures", () => {
  it("every procedure rejects an unauthenticated caller with UNAUTHORIZED", async () => {
    const anonymous = createCaller({ hs, authenticated: false });
    for (const call of [() => anonymous.server.health(), () => anonymous.keys.own(), () => anonymous.keys.remote({ server_name: "a.test" })]) {
      assert.equal((await rejection(call())).code, "UNAUTHORIZED");
    }
  });

  it("server.health describes this process", async () => {
    const health = await createCaller({ hs, authenticated: true }).server.health();
    assert.equal(health.server_name, "test.local");
    assert.equal(health.role, "main");
    assert.equal(health.instance_name, "main");
    assert.equal(health.database, "pglite");
    assert.equal(health.key_id, hs.ownKeys.signingKey.keyId);
    assert.equal(health.version, hs.version);
    assert.equal(health.started_at_ts, hs.startedAt);
    assert.ok(health.uptime_ms >= 0);
  });

  it("keys.own matches the served key document, old keys included", async () => {
    const own = await createCaller({ hs, authenticated: true }).keys.own();
    const doc = hs.ownKeys.serverKeyDocument() as { verify_keys: Record<string, { key: string }>; valid_until_ts: number };
    assert.equal(own.key_id, hs.ownKeys.signingKey.keyId);
    assert.equal(own.public_key, doc.verify_keys[own.key_id]!.key);
    assert.ok(own.valid_until_ts > Date.now(), "valid_until_ts lies in the future");
    assert.ok(own.valid_until_ts <= doc.valid_until_ts);
    assert.deepEqual(own.old_keys, [{ key_id: "ed25519:old", key: "l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ", expired_ts: 1_600_000_000_000 }]);
  });

  it("keys.remote returns the cached keys of one server, and none for an unknown server", async () => {
    await new ServerKeyStore(hs.db.prisma).storeKeys([
      { serverName: "remote.test", keyId: "ed25519:a", verifyKey: "AAAA", validUntilTs: 2_000_000_000_000, fetchedTs: 1_900_000_000_000, fromServer: "remote.test", keyJson: "{}" },
      { serverName: "other.test", keyId: "ed25519:b", verifyKey: "BBBB", validUntilTs: 2_000_000_000_000, fetchedTs: 1_900_000_000_000, fromServer: "notary.test", keyJson: "{}" },
    ]);
    const caller = createCaller({ hs, authenticated: true });
    assert.deepEqual(await caller.keys.remote({ server_name: "remote.test" }), {
      server_name: "remote.test",
      keys: [{ key_id: "ed25519:a", verify_key: "AAAA", valid_until_ts: 2_000_000_000_000, fetched_ts: 1_900_000_000_000, from_server: "remote.test" }],
    });
    assert.deepEqual(await caller.keys.remote({ server_name: "unknown.test:8448" }), { server_name: "unknown.test:8448", keys: [] });
  });

  it("keys.remote refuses something that is not a server name, with a readable message", async () => {
    const caller = createCaller({ hs, authenticated: true });
    for (const bad of ["", "not a server", "https://example.org", "example.org/path"]) {
      const error = await rejection(caller.keys.remote({ server_name: bad }));
      assert.equal(error.code, "BAD_REQUEST", `accepted ${JSON.stringify(bad)}`);
    }
  });
});

describe("/api/trpc over fetch", () => {
  function call(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const req = new Request(`http://127.0.0.1/api/trpc/${path}`, { headers });
    return fetchRequestHandler({ endpoint: "/api/trpc", req, router: appRouter, createContext: () => createTRPCContext({ hs, headers: req.headers }) });
  }

  it("answers 401 without credentials and with a wrong token", async () => {
    assert.equal((await call("server.health")).status, 401);
    assert.equal((await call("server.health", { authorization: "Bearer wrong-token-wrong-token" })).status, 401);
  });

  it("accepts the admin token as a Bearer token and a session cookie", async () => {
    const bearer = await call("server.health", { authorization: `Bearer ${hs.adminToken}` });
    assert.equal(bearer.status, 200);
    assert.equal(((await bearer.json()) as { result: { data: { server_name: string } } }).result.data.server_name, "test.local");
    const cookie = await call("server.health", { cookie: `${SESSION_COOKIE}=${createSessionToken(hs.adminToken, Date.now())}` });
    assert.equal(cookie.status, 200);
  });

  it("reports bad input as 400 with the field and the problem", async () => {
    const res = await call(`keys.remote?input=${encodeURIComponent(JSON.stringify({ server_name: "not a server" }))}`, { authorization: `Bearer ${hs.adminToken}` });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { message: string } };
    assert.match(body.error.message, /^server_name: expected a server name/);
  });
});
