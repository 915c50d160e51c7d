/**
 * Inbound /send throughput for small EDU-only transactions: signed PUTs from 64 origins (one transaction in flight
 * each, as the spec allows) to a real Switchyard on loopback, against the same signed requests answered by a raw
 * node:http echo server. Both sides use one undici Pool; the origins' keys are already cached, as they would be
 * for established peers, and rc_federation is raised so the rate limiter does not set the pace.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";
import { generateSigningKey, type SigningKey } from "../server/crypto";
import { buildXMatrixAuthorization } from "../server/federation/transport/x-matrix";
import { startTestHomeServer } from "../tests/support/homeserver";
import type { Benchmark } from "./harness";

const ORIGINS = 64;
const DURATION_MS = 4000;

interface Origin {
  name: string;
  key: SigningKey;
  txn: number;
}

async function drive(baseUrl: string, destination: string, origins: Origin[], durationMs: number): Promise<number> {
  const pool = new Pool(baseUrl, { connections: origins.length });
  let done = 0;
  const until = performance.now() + durationMs;
  await Promise.all(origins.map(async (origin) => {
    while (performance.now() < until) {
      const path = `/_matrix/federation/v1/send/${origin.txn++}`;
      const content = { origin: origin.name, origin_server_ts: Date.now(), pdus: [], edus: [{ edu_type: "m.typing", content: { room_id: "!bench:x", user_id: `@u:${origin.name}`, typing: true } }] };
      const authorization = buildXMatrixAuthorization({ method: "PUT", uri: path, origin: origin.name, destination, content }, origin.key);
      const res = await pool.request({ path, method: "PUT", headers: { authorization, "content-type": "application/json" }, body: JSON.stringify(content) });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} from ${baseUrl}`);
      done++;
    }
  }));
  await pool.close();
  return (done * 1000) / durationMs;
}

async function echoServer(): Promise<{ server: Server; url: string }> {
  const body = Buffer.from('{"pdus":{}}');
  const server = createServer((req, res) => {
    req.on("data", () => {});
    req.on("end", () => res.writeHead(200, { "content-type": "application/json", "content-length": body.length }).end(body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const inbound: Benchmark = async () => {
  const origins: Origin[] = Array.from({ length: ORIGINS }, (_, i) => ({ name: `origin${i}.bench`, key: generateSigningKey("b"), txn: 0 }));
  const target = await startTestHomeServer({
    server_name: "target.bench",
    rc_federation: { sleep_limit: 1_000_000, concurrent: 10, reject_limit: 1000 },
  });
  const far = Date.now() + 86_400_000;
  await target.hs.stores.serverKeys.storeKeys(origins.map((o) => ({
    serverName: o.name, keyId: o.key.keyId, verifyKey: o.key.publicKeyBase64, validUntilTs: far, fetchedTs: Date.now(), fromServer: o.name, keyJson: "{}",
  })));
  const echo = await echoServer();
  try {
    await drive(target.baseUrl, "target.bench", origins, 500); // warm-up
    const ours = await drive(target.baseUrl, "target.bench", origins, DURATION_MS);
    await drive(echo.url, "target.bench", origins, 500);
    const raw = await drive(echo.url, "target.bench", origins, DURATION_MS);
    return [{
      figure: `/send EDU-only transactions/s (${ORIGINS} origins, PGlite) vs raw node:http echo`,
      switchyard: Math.round(ours), baseline: Math.round(raw), unit: "txn/s", ratio: Number((ours / raw).toFixed(3)),
    }];
  } finally {
    echo.server.close();
    await target.stop();
  }
};

export default inbound;
