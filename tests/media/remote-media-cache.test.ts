/**
 * Remote media through the real federation transport into the bounded on-disk cache: downloaded once, shared by
 * concurrent requests, evicted least recently used first, and still there after a restart.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Agent } from "undici";
import { generateSigningKey } from "../../server/crypto";
import { TransportLayerClient } from "../../server/federation/transport/client";
import { ServerDiscovery } from "../../server/federation/transport/discovery";
import { MatrixFederationClient } from "../../server/federation/transport/http-client";
import { IpRangeFilter } from "../../server/federation/transport/ip-range";
import { RemoteMediaCache } from "../../server/media/remote-media-cache";
import { FakeResolver, startServer, type TestServer } from "../transport/helpers";

const PEER = "media.test";

function sendMedia(res: ServerResponse, body: Buffer | null, location?: string): void {
  const boundary = "b0und";
  const media = location ? `Location: ${location}\r\n\r\n` : `Content-Type: image/png\r\n\r\n`;
  res.writeHead(200, { "content-type": `multipart/mixed; boundary=${boundary}` });
  res.end(Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${boundary}\r\n${media}`),
    body ?? Buffer.alloc(0),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]));
}

describe("RemoteMediaCache", () => {
  let server: TestServer;
  let http: MatrixFederationClient;
  let transport: TransportLayerClient;
  const dir = mkdtempSync(join(tmpdir(), "switchyard-media-"));
  const agent = new Agent();
  const cache = (maxBytes: number) => new RemoteMediaCache({ dir, maxBytes, download: (s, id) => transport.downloadMedia(s, id) });
  const downloads = (id: string) => server.requests.filter((r) => r.url.startsWith(`/_matrix/federation/v1/media/download/${id}`)).length;

  before(async () => {
    server = await startServer((req, res) => {
      const id = req.url.split("?")[0]!.split("/").pop()!;
      if (id === "elsewhere") return sendMedia(res, null, "https://cdn.example/x.png");
      sendMedia(res, Buffer.alloc(100, id.charCodeAt(0)));
    });
    const discovery = new ServerDiscovery({ resolver: new FakeResolver(), wellKnownDispatcher: agent, overrides: { [PEER]: `http://127.0.0.1:${server.port}` } });
    http = new MatrixFederationClient({ serverName: "origin.test", signingKey: generateSigningKey(), discovery, ipFilter: new IpRangeFilter(), verifyCertificates: true });
    transport = new TransportLayerClient(http);
  });
  after(async () => {
    await http.close();
    await agent.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("downloads once, shares concurrent requests, and keeps within its bound", async () => {
    const media = cache(250);
    const [first, second] = await Promise.all([media.get(PEER, "a"), media.get(PEER, "a")]);
    assert.deepEqual(first.body, Buffer.alloc(100, "a".charCodeAt(0)));
    assert.equal(first.contentType, "image/png");
    assert.deepEqual(second, first);
    assert.equal(downloads("a"), 1);
    await media.get(PEER, "b");
    await media.get(PEER, "a"); // a is now the most recently used
    assert.equal(downloads("a"), 1, "served from disk");
    await media.get(PEER, "c");
    assert.equal(media.usedBytes, 200);
    await media.get(PEER, "a");
    assert.equal(downloads("a"), 1, "a stayed");
    await media.get(PEER, "b");
    assert.equal(downloads("b"), 2, "b, the least recently used, was evicted and fetched again");
  });

  it("finds what it cached after a restart, and refuses what it cannot hold", async () => {
    const restarted = cache(250);
    await restarted.get(PEER, "b");
    assert.equal(downloads("b"), 2);
    assert.equal(restarted.usedBytes, 200);
    await assert.rejects(restarted.get(PEER, "elsewhere"), /another location/);
    await assert.rejects(restarted.get(PEER, "../../etc"), /invalid media ID/);
    await assert.rejects(cache(50).get(PEER, "z"), /more than the whole cache holds/);
  });
});
