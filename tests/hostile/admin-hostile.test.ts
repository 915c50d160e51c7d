/**
 * Hostile-input suite, admin side: generated calls to the Synapse-compatible admin REST API, /metrics and the
 * console's tRPC API without valid credentials (missing, wrong, forged or expired tokens and cookies, odd paths).
 * Every one is refused with 401 (a Matrix error on the engine's endpoints, UNAUTHORIZED on tRPC) and changes nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Pool } from "undici";
import { SESSION_COOKIE, createSessionToken } from "../../server/api/auth";
import { serveConsoleApi, type ConsoleApi } from "../support/console-api";
import { startTestHomeServer, type TestHomeServer } from "../support/homeserver";

let server: TestHomeServer;
let api: ConsoleApi;

const ADMIN_PATHS: Array<[string, string]> = [
  ["GET", "/_synapse/admin/v1/federation/destinations"],
  ["GET", "/_synapse/admin/v1/federation/destinations?from=0&limit=10&order_by=destination&dir=b"],
  ["GET", "/_synapse/admin/v1/federation/destinations/remote.test"],
  ["GET", "/_synapse/admin/v1/federation/destinations/..%2F..%2Fetc/rooms"],
  ["POST", "/_synapse/admin/v1/federation/destinations/remote.test/reset_connection"],
  ["GET", "/metrics"],
  ["GET", "/_synapse/metrics"],
];
const TRPC_CALLS: Array<[string, string]> = [
  ["GET", "/api/trpc/server.health"],
  ["GET", "/api/trpc/destinations.list?input=%7B%7D"],
  ["GET", "/api/trpc/replication.positions"],
  ["POST", "/api/trpc/destinations.retryNow"],
  ["POST", "/api/trpc/destinations.reset"],
  ["POST", "/api/trpc/rooms.create"],
  ["POST", "/api/trpc/users.create"],
];

function credentials(i: number, adminToken: string): Record<string, string> {
  const expired = createSessionToken(adminToken, Date.now() - 30 * 86_400_000);
  const forged = createSessionToken("x".repeat(32), Date.now());
  const variants: Array<Record<string, string>> = [
    {},
    { authorization: "Bearer " },
    { authorization: "Bearer wrong-token-0123456789" },
    { authorization: `Bearer ${adminToken}x` },
    { authorization: `Bearer ${adminToken.slice(0, -1)}` },
    { authorization: `Basic ${Buffer.from(`admin:${adminToken}`).toString("base64")}` },
    { authorization: adminToken },
    { authorization: `bearer  ${"A".repeat(4000)}` },
    { cookie: `${SESSION_COOKIE}=${expired}` },
    { cookie: `${SESSION_COOKIE}=${forged}` },
    { cookie: `${SESSION_COOKIE}=garbage.garbage` },
    { cookie: `${SESSION_COOKIE}=${Date.now() + 3600_000}.AAAA` },
    { cookie: `other=1; ${SESSION_COOKIE}=` },
    { authorization: "X-Matrix origin=\"remote.test\",key=\"ed25519:a\",sig=\"a\"" },
  ];
  return variants[i % variants.length]!;
}

describe("hostile inputs against the admin APIs", () => {
  before(async () => {
    server = await startTestHomeServer({ server_name: "admin-hostile.test" });
    api = await serveConsoleApi(server.hs);
  });
  after(async () => {
    await api.close();
    await server.stop();
  });

  it("refuses 2,000 generated unauthenticated calls and changes nothing", async () => {
    const p = server.hs.db.prisma;
    const counts = async () => [await p.destination.count(), await p.user.count(), await p.room.count()];
    const before = await counts();
    const engine = new Pool(server.baseUrl, { connections: 8 });
    const trpc = new Pool(api.url.replace(/\/$/, ""), { connections: 8 });
    const failures: string[] = [];
    try {
      const jobs = Array.from({ length: 2000 }, (_, i) => async () => {
        const toEngine = i % 2 === 0;
        const [method, path] = toEngine ? ADMIN_PATHS[i % ADMIN_PATHS.length]! : TRPC_CALLS[i % TRPC_CALLS.length]!;
        const headers = { "content-type": "application/json", ...credentials(Math.floor(i / 2), server.hs.adminToken) };
        const body = method === "POST" ? JSON.stringify(toEngine ? {} : { destination: "remote.test", localpart: "x", creator: "@x:y" }) : undefined;
        const res = await (toEngine ? engine : trpc).request({ method: method as "GET", path, headers, body });
        const text = await res.body.text();
        let json: { errcode?: string; error?: { data?: { code?: string } } } = {};
        try {
          json = JSON.parse(text) as typeof json;
        } catch {
          // judged below
        }
        const ok = res.statusCode === 401 && (toEngine ? /^M_(MISSING|UNKNOWN)_TOKEN$/.test(json.errcode ?? "") : json.error?.data?.code === "UNAUTHORIZED");
        if (!ok && failures.length < 10) failures.push(`${method} ${path} ${JSON.stringify(headers).slice(0, 80)} → ${res.statusCode} ${text.slice(0, 120)}`);
      });
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < jobs.length) await jobs[next++]!();
      }));
    } finally {
      await engine.close();
      await trpc.close();
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(await counts(), before);
  });
});
