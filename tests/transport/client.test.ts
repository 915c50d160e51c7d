import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { after, before, beforeEach, describe, it } from "node:test";
import { Agent } from "undici";
import { generateSigningKey } from "../../server/crypto";
import { TransportLayerClient } from "../../server/federation/transport/client";
import { ServerDiscovery } from "../../server/federation/transport/discovery";
import { FederationRequestError } from "../../server/federation/transport/errors";
import { MatrixFederationClient } from "../../server/federation/transport/http-client";
import { IpRangeFilter } from "../../server/federation/transport/ip-range";
import { parseMultipart } from "../../server/federation/transport/multipart";
import { FakeResolver, sendJson, startServer, type SeenRequest, type TestServer } from "./helpers";

const PEER = "peer.test";
type Route = (req: SeenRequest, res: ServerResponse) => void;

function multipart(res: ServerResponse, boundary: string, parts: Array<{ headers: Record<string, string>; body: Buffer | string }>, typeHeader?: string) {
  const chunks: Buffer[] = [Buffer.from("preamble to ignore\r\n")];
  for (const part of parts) {
    const head = Object.entries(part.headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    chunks.push(Buffer.from(`--${boundary}\r\n${head}\r\n`), Buffer.from(part.body), Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  res.writeHead(200, { "content-type": typeHeader ?? `multipart/mixed; boundary=${boundary}` });
  res.end(Buffer.concat(chunks));
}

describe("TransportLayerClient", () => {
  let server: TestServer;
  let http: MatrixFederationClient;
  let client: TransportLayerClient;
  const agent = new Agent();
  const routes = new Map<string, Route>();

  before(async () => {
    server = await startServer((req, res) => {
      const route = routes.get(`${req.method} ${req.url.split("?")[0]}`);
      if (route) return route(req, res);
      sendJson(res, 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });
    });
    const discovery = new ServerDiscovery({
      resolver: new FakeResolver(),
      wellKnownDispatcher: agent,
      overrides: { [PEER]: `http://127.0.0.1:${server.port}` },
    });
    http = new MatrixFederationClient({
      serverName: "origin.test",
      signingKey: generateSigningKey(),
      discovery,
      ipFilter: new IpRangeFilter(),
      verifyCertificates: true,
      sleep: async () => undefined,
    });
    client = new TransportLayerClient(http);
  });
  beforeEach(() => {
    routes.clear();
    server.requests.length = 0;
  });
  after(async () => {
    await http.close();
    await agent.close();
    await server.close();
  });

  it("percent-encodes path segments and repeats list query parameters", async () => {
    routes.set("GET /_matrix/federation/v1/event/%24ev%2Fx%3Aserver", (_req, res) =>
      sendJson(res, 200, { origin: PEER, origin_server_ts: 1, pdus: [{ type: "m.room.message", extra: { any: [1] } }], unknown_field: true }),
    );
    const txn = await client.getEvent(PEER, "$ev/x:server");
    assert.deepEqual(txn.pdus, [{ type: "m.room.message", extra: { any: [1] } }]);

    routes.set("GET /_matrix/federation/v1/make_join/!room%3Apeer.test/%40alice%3Aorigin.test", (_req, res) =>
      sendJson(res, 200, { event: { type: "m.room.member" }, room_version: "10" }),
    );
    const made = await client.makeJoin(PEER, "!room:peer.test", "@alice:origin.test", ["10", "11"]);
    assert.equal(made.room_version, "10");
    assert.equal(server.requests.at(-1)!.url.split("?")[1], "ver=10&ver=11");
  });

  it("sends transactions and returns the per-PDU results", async () => {
    routes.set("PUT /_matrix/federation/v1/send/txn%201", (req, res) => {
      const body = JSON.parse(req.body.toString("utf8"));
      sendJson(res, 200, { pdus: { "$a": {}, "$b": { error: `rejected by ${body.origin}` } } });
    });
    const result = await client.sendTransaction(PEER, "txn 1", { origin: "origin.test", origin_server_ts: 5, pdus: [], edus: [] });
    assert.deepEqual(result, { pdus: { $a: {}, $b: { error: "rejected by origin.test" } } });

    routes.set("PUT /_matrix/federation/v1/send/txn2", (_req, res) => sendJson(res, 200, {}));
    assert.deepEqual(await client.sendTransaction(PEER, "txn2", { origin: "origin.test", origin_server_ts: 5, pdus: [], edus: [] }), { pdus: {} });
  });

  it("surfaces Matrix errors with their errcode", async () => {
    routes.set("GET /_matrix/federation/v1/query/directory", (_req, res) => sendJson(res, 404, { errcode: "M_NOT_FOUND", error: "Room alias not found" }));
    await assert.rejects(
      client.queryDirectory(PEER, "#nope:peer.test"),
      (e: unknown) => e instanceof FederationRequestError && e.errorClass === "http" && e.status === 404 && e.errcode === "M_NOT_FOUND",
    );
    assert.match(server.requests[0]!.url, /\?room_alias=%23nope%3Apeer\.test$/);
  });

  it("rejects responses that do not match the endpoint's schema", async () => {
    routes.set("GET /_matrix/federation/v1/state_ids/!r%3Ap", (_req, res) => sendJson(res, 200, { pdu_ids: "not a list", auth_chain_ids: [] }));
    await assert.rejects(
      client.getRoomStateIds(PEER, "!r:p", "$e"),
      (e: unknown) => e instanceof FederationRequestError && e.errorClass === "invalid_response" && /pdu_ids/.test(e.message),
    );
    routes.set("PUT /_matrix/federation/v2/send_join/!r%3Ap/%24e", (_req, res) => sendJson(res, 200, { origin: PEER, state: [], auth_chain: [7] }));
    await assert.rejects(client.sendJoin(PEER, "!r:p", "$e", {}), (e: unknown) => e instanceof FederationRequestError && /auth_chain\.0/.test(e.message));
  });

  it("handles the odd shapes: invite v1's pair, send_knock's old field, account status, version", async () => {
    routes.set("PUT /_matrix/federation/v1/invite/!r%3Ap/%24e", (_req, res) => sendJson(res, 200, [200, { event: { signed: true } }]));
    assert.deepEqual(await client.inviteV1(PEER, "!r:p", "$e", { type: "m.room.member" }), { signed: true });

    routes.set("PUT /_matrix/federation/v1/send_knock/!r%3Ap/%24e", (_req, res) => sendJson(res, 200, { knock_state_events: [{ type: "m.room.name" }] }));
    assert.deepEqual(await client.sendKnock(PEER, "!r:p", "$e", {}), [{ type: "m.room.name" }]);

    routes.set("POST /_matrix/federation/unstable/org.matrix.msc3720/account_status", (req, res) => {
      const { user_ids } = JSON.parse(req.body.toString("utf8")) as { user_ids: string[] };
      sendJson(res, 200, { account_statuses: { [user_ids[0]!]: { exists: true, deactivated: false } }, failures: [user_ids[1]] });
    });
    assert.deepEqual(await client.getAccountStatus(PEER, ["@a:peer.test", "@b:peer.test"]), {
      account_statuses: { "@a:peer.test": { exists: true, deactivated: false } },
      failures: ["@b:peer.test"],
    });

    routes.set("GET /_matrix/federation/v1/version", (_req, res) => sendJson(res, 200, { server: { name: "Synapse", version: "1.120" } }));
    assert.equal((await client.getServerVersion(PEER)).server.name, "Synapse");
  });

  it("returns key responses exactly as signed, ignoring backoff", async () => {
    const keys = { server_name: PEER, valid_until_ts: 1, verify_keys: { "ed25519:a": { key: "abc" } }, old_verify_keys: {}, signatures: { [PEER]: { "ed25519:a": "sig" } } };
    routes.set("GET /_matrix/key/v2/server", (_req, res) => sendJson(res, 200, keys));
    assert.deepEqual(await client.fetchServerKeys(PEER), keys);

    routes.set("POST /_matrix/key/v2/query", (req, res) => sendJson(res, 200, { server_keys: [keys], asked: JSON.parse(req.body.toString("utf8")) }));
    assert.deepEqual(await client.queryNotary(PEER, { "other.test": {} }), [keys]);
    assert.deepEqual(JSON.parse(server.requests.at(-1)!.body.toString("utf8")), { server_keys: { "other.test": {} } });

    routes.set("GET /_matrix/key/v2/server", (_req, res) => sendJson(res, 200, { server_name: PEER }));
    await assert.rejects(client.fetchServerKeys(PEER), (e: unknown) => e instanceof FederationRequestError && e.errorClass === "invalid_response");
  });

  it("parses multipart media downloads, with content or a Location", async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff]);
    routes.set("GET /_matrix/federation/v1/media/download/abc", (_req, res) =>
      multipart(res, "b0und4ry", [
        { headers: { "Content-Type": "application/json" }, body: "{}" },
        { headers: { "Content-Type": "image/png", "Content-Disposition": 'inline; filename="a.png"' }, body: png },
      ]),
    );
    const media = await client.downloadMedia(PEER, "abc", { remoteTimeoutMs: 5000 });
    assert.equal(media.kind, "content");
    if (media.kind === "content") {
      assert.deepEqual(media.body, png);
      assert.equal(media.contentType, "image/png");
      assert.equal(media.contentDisposition, 'inline; filename="a.png"');
      assert.deepEqual(media.metadata, {});
    }
    assert.match(server.requests[0]!.url, /\?timeout_ms=5000$/);

    routes.set("GET /_matrix/federation/v1/media/thumbnail/abc", (_req, res) =>
      multipart(
        res,
        "with space",
        [
          { headers: { "Content-Type": "application/json" }, body: '{"k":1}' },
          { headers: { Location: "https://cdn.example/thumb.png" }, body: "" },
        ],
        'multipart/mixed; charset=utf-8; boundary="with space"',
      ),
    );
    const thumb = await client.getMediaThumbnail(PEER, "abc", { width: 32, height: 32, method: "crop" });
    assert.deepEqual(thumb, { kind: "location", metadata: { k: 1 }, location: "https://cdn.example/thumb.png" });
    assert.match(server.requests[1]!.url, /\?width=32&height=32&method=crop$/);

    routes.set("GET /_matrix/federation/v1/media/download/bad", (_req, res) => multipart(res, "x", [{ headers: {}, body: "only one part" }]));
    await assert.rejects(client.downloadMedia(PEER, "bad"), (e: unknown) => e instanceof FederationRequestError && /expected 2 multipart parts/.test(e.message));
  });

  it("reads multipart edge cases and refuses broken bodies", () => {
    const body = Buffer.from("--b\r\n\r\nno headers\r\n--b  \r\nX-A: 1\r\n\r\n\r\n--b--");
    assert.deepEqual(
      parseMultipart("multipart/mixed;boundary=b", body).map((p) => [p.headers, p.body.toString()]),
      [[{}, "no headers"], [{ "x-a": "1" }, ""]],
    );
    assert.throws(() => parseMultipart("application/json", body), /multipart Content-Type/);
    assert.throws(() => parseMultipart("multipart/mixed; boundary=b", Buffer.from("--b\r\nX: 1\r\n\r\nunterminated")), /closing boundary/);
    assert.throws(() => parseMultipart("multipart/mixed; boundary=zz", body), /no boundary/);
  });
});
