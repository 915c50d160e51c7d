/**
 * Outbound fan-out: 4,500 events in one room, already persisted, handed at once to a real Switchyard's federation
 * sender (PGlite) whose room has 415 other servers. All 415 names point (federation_domain_overrides) at one
 * loopback node:http receiver that answers {"pdus":{}} without checking anything, so the figure is the sender's.
 * The baseline, in the same run: raw undici sending the same signed /send requests — as many, with the same
 * number of PDUs each, signed the same way (X-Matrix over canonical JSON), one in flight per destination on a
 * keep-alive pool per destination, as the sender does — without queues, database or bookkeeping.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";
import { canonicalJsonBytes, type JsonObject, type SigningKey } from "../server/crypto";
import { buildXMatrixAuthorization } from "../server/federation/transport/x-matrix";
import { startTestHomeServer } from "../tests/support/homeserver";
import { TableEventSource } from "../tests/support/sender-events";
import type { Benchmark } from "./harness";

const EVENTS = 4500;
const DESTINATIONS = 415;
const ORIGIN = "origin.bench";

async function receiver(): Promise<{ server: Server; url: string; requests: () => number }> {
  const body = Buffer.from('{"pdus":{}}');
  let requests = 0;
  const server = createServer((req, res) => {
    req.on("data", () => {});
    req.on("end", () => {
      requests++;
      res.writeHead(200, { "content-type": "application/json", "content-length": body.length }).end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

/** Sends, per destination and in order, one signed PUT /send per entry of its PDU counts; returns the wall time. */
async function rawUndici(url: string, key: SigningKey, pdus: JsonObject[], plan: Map<string, number[]>): Promise<number> {
  const pools = new Map([...plan.keys()].map((d) => [d, new Pool(url, { connections: 5 })]));
  let txn = 0;
  const started = performance.now();
  await Promise.all([...plan].map(async ([destination, counts]) => {
    const pool = pools.get(destination)!;
    let offset = 0;
    for (const n of counts) {
      const path = `/_matrix/federation/v1/send/raw_${txn++}`;
      const content = { origin: ORIGIN, origin_server_ts: Date.now(), pdus: pdus.slice(offset % pdus.length, (offset % pdus.length) + n), edus: [] };
      offset += n;
      const payload = canonicalJsonBytes(content);
      const authorization = buildXMatrixAuthorization({ method: "PUT", uri: path, origin: ORIGIN, destination, content }, key);
      const res = await pool.request({ path, method: "PUT", headers: { authorization, "content-type": "application/json", host: destination }, body: payload });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    }
  }));
  const ms = performance.now() - started;
  await Promise.all([...pools.values()].map((p) => p.close()));
  return ms;
}

const fanout: Benchmark = async () => {
  const sink = await receiver();
  const destinations = Array.from({ length: DESTINATIONS }, (_, i) => `d${i}.bench`);
  let source!: TableEventSource;
  const origin = await startTestHomeServer(
    { server_name: ORIGIN, federation_domain_overrides: Object.fromEntries(destinations.map((d) => [d, sink.url])) },
    { senderEvents: ({ prisma, serverName, signingKey }) => (source = new TableEventSource(prisma, serverName, signingKey)) },
  );
  try {
    const room = "!fanout:origin.bench";
    source.setHosts(room, [ORIGIN, ...destinations]);
    const last = await source.persistChain(room, EVENTS);
    const sender = origin.hs.sender;
    const pdus = [...(await source.getPdus((await source.getEventsSince(0, EVENTS)).map((e) => e.eventId))).values()];
    // warms the code both sides share (canonical JSON, signing, undici) before either is measured
    await rawUndici(sink.url, origin.hs.ownKeys.signingKey, pdus, new Map(destinations.map((d) => [d, [50, 50]])));
    const warmUpRequests = sink.requests();

    const started = performance.now();
    sender.notifyNewEvents(last);
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const queues = sender.queueStates();
      if (sender.streamPosition >= last && queues.length === DESTINATIONS && queues.every((q) => q.pendingPdus === 0 && !q.transmissionLoopRunning)) break;
    }
    const oursMs = performance.now() - started;

    // What was sent, per destination in order: every PDU exactly once, and the plan for the baseline.
    await sender.flush();
    const plan = new Map<string, number[]>();
    let transactions = 0;
    let delivered = 0;
    for (const d of destinations) {
      const log = (await origin.hs.stores.sentTransactions.recent(d, 1_000_000)).reverse().filter((t) => t.outcome === "success");
      plan.set(d, log.map((t) => t.pduCount));
      transactions += log.length;
      delivered += log.reduce((n, t) => n + t.pduCount, 0);
    }
    if (delivered !== EVENTS * DESTINATIONS) throw new Error(`delivered ${delivered} PDUs, expected ${EVENTS * DESTINATIONS}`);
    if (sink.requests() - warmUpRequests !== transactions) throw new Error(`the receiver saw ${sink.requests() - warmUpRequests} requests for ${transactions} transactions`);

    const rawMs = await rawUndici(sink.url, origin.hs.ownKeys.signingKey, pdus, plan);

    const ours = (transactions * 1000) / oursMs;
    const raw = (transactions * 1000) / rawMs;
    process.stderr.write(
      `fanout: ${EVENTS} events × ${DESTINATIONS} destinations = ${transactions} transactions; ` +
      `switchyard ${oursMs.toFixed(0)} ms (${ours.toFixed(0)} txn/s), raw undici ${rawMs.toFixed(0)} ms (${raw.toFixed(0)} txn/s)\n`,
    );
    return [
      {
        figure: `fan-out of ${EVENTS} events in one room to ${DESTINATIONS} loopback destinations: wall time (lower is better)`,
        switchyard: Math.round(oursMs), baseline: Math.round(rawMs), unit: "ms", ratio: Number((oursMs / rawMs).toFixed(3)),
      },
      {
        figure: `the same fan-out: ${transactions} signed /send transactions per second vs raw undici`,
        switchyard: Math.round(ours), baseline: Math.round(raw), unit: "txn/s", ratio: Number((ours / raw).toFixed(3)),
      },
    ];
  } finally {
    await origin.stop();
    sink.server.close();
  }
};

export default fanout;
