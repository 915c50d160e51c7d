import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { Agent } from "undici";
import { generateSigningKey, verifyJsonSignature, type JsonObject } from "../../server/crypto";
import { ServerDiscovery } from "../../server/federation/transport/discovery";
import { FederationRequestError, type FederationErrorClass } from "../../server/federation/transport/errors";
import {
  IDLE_POOL_TIMEOUT_MS,
  MatrixFederationClient,
  retryDelayMs,
  type FederationBackoff,
  type MatrixFederationClientOptions,
} from "../../server/federation/transport/http-client";
import { IpRangeFilter } from "../../server/federation/transport/ip-range";
import { parseXMatrixHeader } from "../../server/federation/transport/x-matrix";
import { FakeResolver, ManualClock, sendJson, startServer, TEST_CA, waitFor, type TestServer } from "./helpers";

const ORIGIN = "origin.test";
const signingKey = generateSigningKey();

function isFailure(errorClass: FederationErrorClass, extra: (e: FederationRequestError) => boolean = () => true) {
  return (e: unknown) => e instanceof FederationRequestError && e.errorClass === errorClass && extra(e);
}

describe("MatrixFederationClient", () => {
  let tlsServer: TestServer;
  let httpServer: TestServer;
  let closedPort: number;
  const agent = new Agent();
  const clients: MatrixFederationClient[] = [];

  before(async () => {
    tlsServer = await startServer((_req, res) => sendJson(res, 200, { ok: true }), { tls: true });
    httpServer = await startServer((_req, res) => sendJson(res, 200, { ok: true }));
    const closed = await startServer(() => undefined);
    closedPort = closed.port;
    await closed.close();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    tlsServer.requests.length = 0;
    httpServer.requests.length = 0;
    tlsServer.setHandler((_req, res) => sendJson(res, 200, { ok: true }));
    httpServer.setHandler((_req, res) => sendJson(res, 200, { ok: true }));
  });
  after(async () => {
    await agent.close();
    await Promise.all([tlsServer.close(), httpServer.close()]);
  });

  function makeClient(options: Partial<MatrixFederationClientOptions> & { whitelist?: string[] } = {}) {
    const resolver = new FakeResolver({}, { "peer.test": ["127.0.0.1"], "other.test": ["127.0.0.1"] });
    const discovery = new ServerDiscovery({
      resolver,
      wellKnownDispatcher: agent,
      overrides: { "override.test": `http://127.0.0.1:${httpServer.port}`, "refused.test": `http://127.0.0.1:${closedPort}` },
    });
    const { whitelist, ...rest } = options;
    const client = new MatrixFederationClient({
      serverName: ORIGIN,
      signingKey,
      discovery,
      ipFilter: new IpRangeFilter({ whitelist: whitelist ?? [] }),
      verifyCertificates: true,
      caCertificates: [TEST_CA],
      timeouts: { connectMs: 2000, requestMs: 5000 },
      sleep: async () => undefined,
      random: () => 0.5,
      ...rest,
    });
    clients.push(client);
    return client;
  }

  it("signs requests so that the receiving server verifies them", async () => {
    httpServer.setHandler((req, res) => {
      const auth = parseXMatrixHeader(String(req.headers.authorization));
      const signed: JsonObject = {
        method: req.method,
        uri: req.url,
        origin: auth.origin,
        destination: auth.destination!,
        content: JSON.parse(req.body.toString("utf8")),
        signatures: { [auth.origin]: { [auth.key]: auth.sig } },
      };
      const verified = verifyJsonSignature(signed, auth.origin, signingKey.keyId, signingKey.publicKey);
      sendJson(res, verified.ok ? 200 : 401, { verified, host: req.headers.host, destination: auth.destination });
    });
    const client = makeClient();
    const result = await client.putJson("override.test", "/_matrix/federation/v1/send/t%2F1", { pdus: [], edus: [] }, { query: { a: "x y", v: ["1", "2"] } });
    assert.deepEqual(result, { verified: { ok: true }, host: "override.test", destination: "override.test" });
    assert.equal(httpServer.requests[0]!.url, "/_matrix/federation/v1/send/t%2F1?a=x%20y&v=1&v=2");
    assert.equal(httpServer.requests[0]!.headers["content-type"], "application/json");
  });

  it("refuses blacklisted addresses, from DNS answers and IP literals alike, without connecting", async () => {
    const client = makeClient();
    const before = tlsServer.connections;
    await assert.rejects(client.getJson(`peer.test:${tlsServer.port}`, "/_matrix/federation/v1/version"), isFailure("blocked_ip", (e) => /127\.0\.0\.1/.test(e.message)));
    await assert.rejects(client.getJson(`127.0.0.1:${tlsServer.port}`, "/_matrix/federation/v1/version"), isFailure("blocked_ip"));
    assert.equal(tlsServer.connections, before);
  });

  it("connects over TLS with SNI and Host from discovery once the address is whitelisted", async () => {
    const client = makeClient({ whitelist: ["127.0.0.1/32"] });
    assert.deepEqual(await client.getJson(`peer.test:${tlsServer.port}`, "/_matrix/federation/v1/version"), { ok: true });
    assert.equal(tlsServer.requests[0]!.servername, "peer.test");
    assert.equal(tlsServer.requests[0]!.headers.host, `peer.test:${tlsServer.port}`);

    // An IP literal: no SNI, and the certificate is checked against the IP address.
    await client.getJson(`127.0.0.1:${tlsServer.port}`, "/_matrix/federation/v1/version");
    assert.equal(tlsServer.requests[1]!.servername, false);
    assert.equal(tlsServer.requests[1]!.headers.host, `127.0.0.1:${tlsServer.port}`);
  });

  it("classifies certificate failures as tls, and skips verification when told to", async () => {
    const noCa = makeClient({ whitelist: ["127.0.0.1/32"], caCertificates: [] });
    await assert.rejects(noCa.getJson(`peer.test:${tlsServer.port}`, "/x"), isFailure("tls"));
    const wrongName = makeClient({ whitelist: ["127.0.0.1/32"] });
    await assert.rejects(wrongName.getJson(`other.test:${tlsServer.port}`, "/x"), isFailure("tls", (e) => /ALTNAME/.test(e.message)));
    const unverified = makeClient({ whitelist: ["127.0.0.1/32"], caCertificates: [], verifyCertificates: false });
    assert.deepEqual(await unverified.getJson(`other.test:${tlsServer.port}`, "/x"), { ok: true });
  });

  it("classifies refused connections, DNS failures, HTTP errors and timeouts", async () => {
    const client = makeClient({ whitelist: ["127.0.0.1/32"] });
    await assert.rejects(client.getJson("refused.test", "/x", { retry: false }), isFailure("connect", (e) => /ECONNREFUSED/.test(e.message)));
    await assert.rejects(client.getJson("missing.test:8448", "/x", { retry: false }), isFailure("dns"));

    httpServer.setHandler((req, res) =>
      req.url === "/500" ? sendJson(res, 500, { errcode: "M_UNKNOWN", error: "boom" }) : sendJson(res, 404, { errcode: "M_NOT_FOUND", error: "no such thing" }),
    );
    await assert.rejects(
      client.getJson("override.test", "/500", { retry: false }),
      isFailure("http", (e) => e.status === 500 && e.errcode === "M_UNKNOWN" && /boom/.test(e.message) && e.retryable),
    );
    await assert.rejects(client.getJson("override.test", "/404"), isFailure("http", (e) => e.status === 404 && e.errcode === "M_NOT_FOUND" && !e.retryable));
    assert.equal(httpServer.requests.filter((r) => r.url === "/404").length, 1, "a 404 is not retried");

    httpServer.setHandler(() => undefined); // never answers
    await assert.rejects(client.getJson("override.test", "/slow", { timeoutMs: 200, retry: false }), isFailure("timeout"));
  });

  it("caps response sizes, declared or streamed", async () => {
    const client = makeClient();
    httpServer.setHandler((req, res) => {
      if (req.url === "/declared") return sendJson(res, 200, { pad: "x".repeat(5000) });
      res.writeHead(200, { "content-type": "application/json" }); // chunked, no Content-Length
      res.write('{"pad":"');
      res.write("x".repeat(5000));
      res.end('"}');
    });
    await assert.rejects(client.getJson("override.test", "/declared", { maxResponseBytes: 1000 }), isFailure("response_too_large"));
    await assert.rejects(client.getJson("override.test", "/streamed", { maxResponseBytes: 1000 }), isFailure("response_too_large"));
    assert.ok(await client.getJson("override.test", "/declared", { maxResponseBytes: 10_000 }));
  });

  it("computes Synapse's retry delays", () => {
    assert.deepEqual([1, 2, 3, 4, 10].map((n) => retryDelayMs("long", n, () => 0)), [3200, 12800, 48000, 48000, 48000]);
    assert.deepEqual([1, 2, 3].map((n) => retryDelayMs("short", n, () => 0)), [400, 800, 1600]);
    assert.deepEqual([1, 3, 4].map((n) => retryDelayMs("short", n, () => 1)), [700, 2800, 2800]);
    assert.equal(retryDelayMs("long", 3, () => 1), 84_000);
  });

  it("retries GETs on the short schedule, PUTs only when asked, and long retries up to 10 times", async () => {
    const delays: number[] = [];
    const client = makeClient({ sleep: async (ms) => void delays.push(ms) });
    let failures = 2;
    httpServer.setHandler((_req, res) => (failures-- > 0 ? sendJson(res, 502, {}) : sendJson(res, 200, { ok: true })));
    assert.deepEqual(await client.getJson("override.test", "/flaky"), { ok: true });
    assert.deepEqual(delays, [550, 1100]);
    assert.equal(httpServer.requests.length, 3);

    failures = 1;
    await assert.rejects(client.putJson("override.test", "/put", {}), isFailure("http"));
    assert.equal(httpServer.requests.length, 4, "a PUT is not retried by default");

    delays.length = 0;
    httpServer.setHandler((_req, res) => sendJson(res, 503, { errcode: "M_UNKNOWN", error: "down" }));
    await assert.rejects(client.putJson("override.test", "/long", {}, { longRetries: true }), isFailure("http", (e) => e.status === 503));
    assert.equal(httpServer.requests.length, 4 + 11, "the first attempt and 10 retries");
    assert.deepEqual(delays, [4400, 17600, 66000, 66000, 66000, 66000, 66000, 66000, 66000, 66000]);
  });

  it("lets wake() cut a retry sleep short", async () => {
    let sleeping = false;
    const client = makeClient({
      sleep: () => {
        sleeping = true;
        return new Promise(() => undefined); // only a wake-up ends this sleep
      },
    });
    let failures = 1;
    httpServer.setHandler((_req, res) => (failures-- > 0 ? sendJson(res, 500, {}) : sendJson(res, 200, { woke: true })));
    const pending = client.putJson("override.test", "/send", {}, { longRetries: true });
    await waitFor(() => sleeping, "the client to sleep before retrying");
    client.wake("other.test");
    client.wake("override.test");
    assert.deepEqual(await pending, { woke: true });
  });

  it("reports outcomes to the backoff and keeps the last error for the console", async () => {
    const events: string[] = [];
    let ready = true;
    const backoff: FederationBackoff = {
      isReady: async () => ready,
      recordFailure: (d, e) => void events.push(`failure ${d} ${e.errorClass} ${e.status ?? ""}`.trim()),
      recordSuccess: (d) => void events.push(`success ${d}`),
    };
    const client = makeClient({ backoff, now: () => 42 });
    httpServer.setHandler((req, res) => {
      const status = Number(req.url.slice(1));
      sendJson(res, status, status === 200 ? {} : { errcode: "M_FORBIDDEN", error: "no" });
    });

    await client.getJson("override.test", "/200");
    await assert.rejects(client.getJson("override.test", "/403"), isFailure("http"));
    await assert.rejects(client.getJson("override.test", "/404"), isFailure("http"));
    await assert.rejects(client.getJson("override.test", "/404", { backoffOn404: true }), isFailure("http"));
    await assert.rejects(client.getJson("override.test", "/500", { retry: false }), isFailure("http"));
    await assert.rejects(client.putJson("override.test", "/400", {}, { backoffOnAllErrorCodes: true }), isFailure("http"));
    assert.deepEqual(events, ["success override.test", "failure override.test http 404", "failure override.test http 500", "failure override.test http 400"]);
    assert.deepEqual(client.lastError("override.test"), {
      errorClass: "http",
      message: "override.test answered HTTP 400 M_FORBIDDEN: no",
      status: 400,
      errcode: "M_FORBIDDEN",
      at: 42,
      method: "PUT",
      path: "/400",
    });

    ready = false;
    const sent = httpServer.requests.length;
    await assert.rejects(client.getJson("override.test", "/200"), isFailure("backing_off"));
    assert.equal(httpServer.requests.length, sent, "nothing sent while backing off");
    assert.equal(client.lastError("override.test")?.status, 400, "backing off does not hide the real error");
    await client.getJson("override.test", "/200", { ignoreBackoff: true });
    assert.equal(client.lastError("override.test"), undefined);
  });

  it("reuses one keep-alive connection per destination", async () => {
    const client = makeClient({ whitelist: ["127.0.0.1/32"] });
    const before = tlsServer.connections;
    await client.getJson(`peer.test:${tlsServer.port}`, "/one");
    await client.getJson(`peer.test:${tlsServer.port}`, "/two");
    assert.equal(tlsServer.connections - before, 1);
    assert.equal(tlsServer.requests[0]!.socket, tlsServer.requests[1]!.socket);
  });

  it("closes a destination's pool once it was idle for IDLE_POOL_TIMEOUT_MS, so idle destinations hold no pool", async () => {
    const clock = new ManualClock();
    const client = makeClient({ now: clock.now });
    const before = httpServer.connections;
    await client.getJson("override.test", "/one");
    clock.advance(IDLE_POOL_TIMEOUT_MS - 1);
    await client.getJson("override.test", "/two");
    assert.equal(httpServer.requests[0]!.socket, httpServer.requests[1]!.socket, "used within the timeout: kept");
    clock.advance(IDLE_POOL_TIMEOUT_MS);
    await client.getJson("override.test", "/three");
    await waitFor(() => httpServer.requests[0]!.socket.destroyed, "the idle pool's connection to close");
    assert.equal(httpServer.connections - before, 2, "a new pool, with a new connection");
  });

  it("rejects a 2xx body that is not JSON", async () => {
    const client = makeClient();
    httpServer.setHandler((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("<html>");
    });
    await assert.rejects(client.getJson("override.test", "/x"), isFailure("invalid_response"));
  });
});
