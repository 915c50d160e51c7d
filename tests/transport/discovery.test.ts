import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { Agent } from "undici";
import { createSafeConnector, undiciConnector } from "../../server/federation/transport/connector";
import {
  cachePeriodFromHeaders,
  orderSrvRecords,
  parseServerName,
  ServerDiscovery,
  type ServerDiscoveryOptions,
} from "../../server/federation/transport/discovery";
import { FederationRequestError } from "../../server/federation/transport/errors";
import { IpRangeFilter } from "../../server/federation/transport/ip-range";
import { FakeResolver, ManualClock, sendJson, startServer, TEST_CA, type Handler, type TestServer } from "./helpers";

const HOUR = 3600_000;

describe("server discovery", () => {
  let server: TestServer;
  let agent: Agent;
  let resolver: FakeResolver;
  let clock: ManualClock;
  const wellKnown = new Map<string, Handler>();

  before(async () => {
    server = await startServer(
      (req, res) => {
        const host = String(req.headers.host).replace(/:\d+$/, "");
        const handler = wellKnown.get(host);
        if (handler) return handler(req, res);
        sendJson(res, 404, { errcode: "M_NOT_FOUND", error: "no well-known" });
      },
      { tls: true },
    );
  });
  after(async () => {
    await agent?.close();
    await server.close();
  });

  beforeEach(() => {
    wellKnown.clear();
    server.requests.length = 0;
    clock = new ManualClock();
    resolver = new FakeResolver({}, { "peer.test": ["127.0.0.1"], "delegated.test": ["127.0.0.1"], "target.test": ["127.0.0.1"] });
    // Real HTTPS to the loopback server, as https://<name>/ would be on port 443: fake DNS, the IP filter with
    // loopback whitelisted, and certificate checks against the test CA.
    const connect = createSafeConnector({
      resolver,
      ipFilter: new IpRangeFilter({ whitelist: ["127.0.0.1/32"] }),
      verifyCertificates: true,
      caCertificates: [TEST_CA],
      connectTimeoutMs: 2000,
    });
    const toTestPort = undiciConnector(connect);
    agent = new Agent({ connect: (options, callback) => toTestPort({ ...options, port: String(server.port) }, callback) });
  });

  const discovery = (extra: Partial<ServerDiscoveryOptions> = {}) =>
    new ServerDiscovery({ resolver, wellKnownDispatcher: agent, now: clock.now, random: () => 0.5, ...extra });
  const wellKnownRequests = () => server.requests.filter((r) => r.url === "/.well-known/matrix/server").length;

  it("uses IP literals directly, with the name as Host header and no SNI", async () => {
    const d = discovery();
    const v4 = await d.resolve("203.0.113.7");
    assert.deepEqual([v4.method, v4.targets, v4.hostHeader, v4.tlsServerName], ["ip_literal", [{ host: "203.0.113.7", port: 8448 }], "203.0.113.7", null]);
    const v6 = await d.resolve("[2001:db8::1]:8000");
    assert.deepEqual([v6.targets, v6.hostHeader, v6.tlsServerName], [[{ host: "2001:db8::1", port: 8000 }], "[2001:db8::1]:8000", null]);
    assert.equal(wellKnownRequests(), 0);
    assert.deepEqual(resolver.queries, []);
  });

  it("connects to an explicit port without well-known or SRV", async () => {
    const r = await discovery().resolve("peer.test:1234");
    assert.deepEqual([r.method, r.targets, r.hostHeader, r.tlsServerName], ["explicit_port", [{ host: "peer.test", port: 1234 }], "peer.test:1234", "peer.test"]);
    assert.equal(wellKnownRequests(), 0);
    assert.deepEqual(resolver.queries, []);
  });

  it("follows a well-known delegation with a port, caching it per Cache-Control max-age", async () => {
    wellKnown.set("peer.test", (_req, res) => sendJson(res, 200, { "m.server": "delegated.test:9000" }, { "cache-control": "public, max-age=600" }));
    const d = discovery();
    const r = await d.resolve("peer.test");
    assert.equal(r.delegatedTo, "delegated.test:9000");
    assert.deepEqual([r.method, r.targets, r.hostHeader, r.tlsServerName], ["explicit_port", [{ host: "delegated.test", port: 9000 }], "delegated.test:9000", "delegated.test"]);
    assert.equal(r.cachedUntil, clock.ms + 600_000);
    assert.equal(server.requests[0]!.servername, "peer.test", "the well-known GET sends SNI for the server name");
    assert.ok(r.steps.some((s) => s.includes('m.server is "delegated.test:9000"')));

    clock.advance(300_000);
    const again = await d.resolve("peer.test");
    assert.equal(again.wellKnown?.fromCache, true);
    assert.equal(wellKnownRequests(), 1);

    clock.advance(300_001);
    await d.resolve("peer.test");
    assert.equal(wellKnownRequests(), 2, "fetched again once max-age ran out");
  });

  it("caps the cache lifetime at 48 h, floors it at 5 min and defaults to 24 h", async () => {
    const answers: Array<Record<string, string>> = [{ "cache-control": "max-age=999999999" }, { "cache-control": "no-store" }, {}];
    wellKnown.set("peer.test", (_req, res) => sendJson(res, 200, { "m.server": "delegated.test:443" }, answers.shift()));
    const d = discovery();
    assert.equal((await d.resolve("peer.test")).cachedUntil! - clock.ms, 48 * HOUR);
    d.clearCache("peer.test");
    assert.equal((await d.resolve("peer.test")).cachedUntil! - clock.ms, 5 * 60_000);
    d.clearCache("peer.test");
    // random() = 0.5 puts the ±10 % jitter in the middle.
    assert.equal((await d.resolve("peer.test")).cachedUntil! - clock.ms, 24 * HOUR);
    assert.equal(wellKnownRequests(), 3);
  });

  it("caches a failed well-known for at most an hour, then falls back to SRV on the server name", async () => {
    resolver.srv["_matrix-fed._tcp.peer.test"] = [{ name: "target.test", port: 8500, priority: 10, weight: 5 }];
    const d = discovery({ random: () => 0.999 });
    const r = await d.resolve("peer.test");
    assert.equal(r.wellKnown?.outcome, "none");
    assert.match(r.wellKnown?.reason ?? "", /HTTP 404/);
    assert.deepEqual([r.method, r.targets, r.hostHeader, r.tlsServerName], ["srv", [{ host: "target.test", port: 8500 }], "peer.test", "peer.test"]);
    const errorTtl = r.wellKnown!.expiresAt - clock.ms;
    assert.ok(errorTtl <= HOUR && errorTtl >= 0.9 * HOUR, `error cached for ${errorTtl} ms`);

    // Cached answers are refreshed once 80 % of their lifetime has passed (Synapse's grace period).
    clock.advance(0.8 * errorTtl - 1);
    await d.resolve("peer.test");
    assert.equal(wellKnownRequests(), 1);
    clock.advance(2);
    await d.resolve("peer.test");
    assert.equal(wellKnownRequests(), 2);
  });

  it("treats invalid JSON, a missing m.server and a bad server name as no delegation", async () => {
    const bodies = ["not json", JSON.stringify({ other: 1 }), JSON.stringify({ "m.server": "bad name!" })];
    wellKnown.set("peer.test", (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(bodies.shift());
    });
    const d = discovery();
    for (const reason of [/not JSON/, /no string "m.server"/, /not a valid server name/]) {
      const r = await d.resolve("peer.test");
      assert.match(r.wellKnown?.reason ?? "", reason);
      assert.equal(r.method, "default_port");
      d.clearCache("peer.test");
    }
  });

  it("prefers _matrix-fed._tcp, then the deprecated _matrix._tcp, then port 8448", async () => {
    const d = discovery();
    resolver.srv["_matrix._tcp.peer.test"] = [{ name: "legacy.test.", port: 8449, priority: 0, weight: 0 }];
    const legacy = await d.resolve("peer.test");
    assert.deepEqual([legacy.method, legacy.targets], ["legacy_srv", [{ host: "legacy.test", port: 8449 }]]);
    assert.deepEqual(resolver.queries.filter((q) => q.startsWith("SRV")), ["SRV _matrix-fed._tcp.peer.test", "SRV _matrix._tcp.peer.test"]);

    d.clearCache("peer.test");
    resolver.srv["_matrix-fed._tcp.peer.test"] = [{ name: "fed.test", port: 8500, priority: 0, weight: 0 }];
    assert.equal((await d.resolve("peer.test")).method, "srv");

    d.clearCache("peer.test");
    delete resolver.srv["_matrix-fed._tcp.peer.test"];
    delete resolver.srv["_matrix._tcp.peer.test"];
    const fallback = await d.resolve("peer.test");
    assert.deepEqual([fallback.method, fallback.targets, fallback.hostHeader, fallback.tlsServerName], [
      "default_port",
      [{ host: "peer.test", port: 8448 }],
      "peer.test",
      "peer.test",
    ]);
  });

  it("runs SRV on the delegated name when m.server has no port, with the delegated name as Host and SNI", async () => {
    wellKnown.set("peer.test", (_req, res) => sendJson(res, 200, { "m.server": "delegated.test" }));
    resolver.srv["_matrix-fed._tcp.delegated.test"] = [{ name: "target.test", port: 7000, priority: 1, weight: 1 }];
    const r = await discovery().resolve("peer.test");
    assert.deepEqual([r.method, r.targets, r.hostHeader, r.tlsServerName], ["srv", [{ host: "target.test", port: 7000 }], "delegated.test", "delegated.test"]);
  });

  it("uses a delegated IP literal with the IP as Host header and no SNI", async () => {
    wellKnown.set("peer.test", (_req, res) => sendJson(res, 200, { "m.server": "198.51.100.4:8443" }));
    const r = await discovery().resolve("peer.test");
    assert.deepEqual([r.method, r.targets, r.hostHeader, r.tlsServerName], ["ip_literal", [{ host: "198.51.100.4", port: 8443 }], "198.51.100.4:8443", null]);
  });

  it("follows redirects, refuses loops and endless chains, and caps the body at 50 KiB", async () => {
    wellKnown.set("peer.test", (_req, res) => {
      res.writeHead(302, { location: "https://delegated.test/.well-known/matrix/server" });
      res.end();
    });
    wellKnown.set("delegated.test", (_req, res) => sendJson(res, 200, { "m.server": "target.test:4444" }));
    const d = discovery();
    assert.equal((await d.resolve("peer.test")).delegatedTo, "target.test:4444");

    wellKnown.set("delegated.test", (_req, res) => {
      res.writeHead(301, { location: "https://peer.test/.well-known/matrix/server" });
      res.end();
    });
    d.clearCache("peer.test");
    assert.match((await d.resolve("peer.test")).wellKnown?.reason ?? "", /redirect loop/);

    let hop = 0;
    wellKnown.set("peer.test", (_req, res) => {
      res.writeHead(307, { location: `/.well-known/matrix/server?hop=${++hop}` });
      res.end();
    });
    d.clearCache("peer.test");
    assert.match((await d.resolve("peer.test")).wellKnown?.reason ?? "", /more than 10 redirects/);

    wellKnown.set("peer.test", (_req, res) => sendJson(res, 200, { "m.server": "delegated.test:1", pad: "x".repeat(60 * 1024) }));
    d.clearCache("peer.test");
    assert.match((await d.resolve("peer.test")).wellKnown?.reason ?? "", /larger than 51200 bytes/);
  });

  it("keeps a still-valid delegation when a refresh fails temporarily", async () => {
    let up = true;
    wellKnown.set("peer.test", (_req, res) =>
      up ? sendJson(res, 200, { "m.server": "delegated.test:9000" }, { "cache-control": "max-age=1000" }) : sendJson(res, 503, {}),
    );
    const d = discovery();
    await d.resolve("peer.test");
    up = false;
    clock.advance(900_000); // inside the last 20 %: refreshed early
    const r = await d.resolve("peer.test");
    assert.equal(wellKnownRequests(), 2);
    assert.equal(r.delegatedTo, "delegated.test:9000");
    assert.equal(r.wellKnown?.fromCache, true);
    // Not asked again on every request while it is down: the next try is two minutes later.
    await d.resolve("peer.test");
    assert.equal(wellKnownRequests(), 2);
    clock.advance(120_000);
    await d.resolve("peer.test");
    assert.equal(wellKnownRequests(), 3);
  });

  it("sends overridden names straight to the configured URL, unfiltered", async () => {
    const d = discovery({ overrides: { "peer.test": "http://127.0.0.1:8401", "other.test:8448": "https://[::1]:9443" } });
    const r = await d.resolve("peer.test");
    assert.deepEqual([r.method, r.scheme, r.targets, r.hostHeader, r.checkIpRange], ["override", "http", [{ host: "127.0.0.1", port: 8401 }], "peer.test", false]);
    const v6 = await d.resolve("other.test:8448");
    assert.deepEqual([v6.scheme, v6.targets, v6.tlsServerName], ["https", [{ host: "::1", port: 9443 }], "other.test"]);
    assert.equal(wellKnownRequests(), 0);
    assert.throws(() => discovery({ overrides: { "x.test": "ftp://host" } }), /http:\/\/ or https:\/\//);
    assert.throws(() => discovery({ overrides: { "x.test": "http://host/path" } }), /only scheme, host and port/);
  });

  it("fails with a dns error for invalid names and SRV server failures", async () => {
    await assert.rejects(discovery().resolve("bad name"), (e: unknown) => e instanceof FederationRequestError && e.errorClass === "dns" && !e.retryable);
    resolver.resolveSrv = async () => {
      throw Object.assign(new Error("SERVFAIL"), { code: "ESERVFAIL" });
    };
    await assert.rejects(discovery().resolve("peer.test"), (e: unknown) => e instanceof FederationRequestError && e.errorClass === "dns" && /SRV lookup/.test(e.message));
  });
});

describe("discovery helpers", () => {
  it("parses the server name grammar", () => {
    assert.deepEqual(parseServerName("example.org"), { host: "example.org", port: null, isIpLiteral: false });
    assert.deepEqual(parseServerName("1.2.3.4:80"), { host: "1.2.3.4", port: 80, isIpLiteral: true });
    assert.deepEqual(parseServerName("[::1]"), { host: "::1", port: null, isIpLiteral: true });
    for (const bad of ["", "a b", "host:0", "host:65536", "[zz]", "::1", "host:"]) assert.throws(() => parseServerName(bad), `${bad}`);
  });

  it("reads Cache-Control and Expires", () => {
    const now = Date.UTC(2030, 0, 1);
    assert.equal(cachePeriodFromHeaders({ "cache-control": "max-age=60" }, now), 60_000);
    assert.equal(cachePeriodFromHeaders({ "cache-control": ["public", "no-store"] }, now), 0);
    assert.equal(cachePeriodFromHeaders({ expires: new Date(now + 5000).toUTCString() }, now), 5000);
    assert.equal(cachePeriodFromHeaders({ expires: "0" }, now), 0);
    assert.equal(cachePeriodFromHeaders({}, now), null);
  });

  it("orders SRV records by priority, then by weight", () => {
    const records = [
      { name: "c", port: 1, priority: 20, weight: 0 },
      { name: "a", port: 1, priority: 10, weight: 90 },
      { name: "b", port: 1, priority: 10, weight: 10 },
    ];
    assert.deepEqual(orderSrvRecords(records, () => 0).map((r) => r.name), ["a", "b", "c"]);
    assert.deepEqual(orderSrvRecords(records, () => 0.95).map((r) => r.name), ["b", "a", "c"]);
  });
});
