/**
 * `npm run soak [-- --minutes N --events N]`: a bounded soak of scaled-out federation sending. `main` and two
 * federation senders (bench/soak-node.ts child processes) share a fresh PostgreSQL database and a private
 * redis-server on a free port. 50 loopback destinations (bench/soak-receiver.ts) join two public rooms over real
 * make_join/send_join; then events (10,000 by default, paced over the duration) are sent into the rooms while
 * destinations fail (500), hang or refuse connections for random periods, main and the senders are SIGKILLed at
 * random moments and started again, and Redis is restarted once.
 * After the faults stop, the soak waits for every destination to catch up, prints per destination what was sent
 * and received, duplicates and corrupt transactions, and exits 1 when an event is missing or a transaction was
 * corrupt. Catch-up after a crash sends each room's newest events only (Synapse's design): the destination pulls
 * the gap with get_missing_events, so at the end each destination does that against main, and an event counts as
 * delivered when the destination received it in a transaction or fetched it so.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, writeFileSync, type WriteStream } from "node:fs";
import type { KeyObject } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Agent } from "undici";
import { formatSigningKeyFile, generateSigningKey, publicKeyFromBase64, type SigningKey } from "../server/crypto";
import { computeEventId, finishEvent, getRoomVersion, signNewEvent } from "../server/events";
import { TransportLayerClient } from "../server/federation/transport/client";
import { ServerDiscovery } from "../server/federation/transport/discovery";
import { MatrixFederationClient } from "../server/federation/transport/http-client";
import { IpRangeFilter } from "../server/federation/transport/ip-range";
import { offlineDnsResolver } from "../tests/support/homeserver";
import { createTestDatabase } from "../tests/support/postgres";
import { freePort, killHard, PrivateRedis } from "../tests/support/redis-server";
import { SoakReceiver, type FaultMode } from "./soak-receiver";

const ORIGIN = "origin.soak";
const DESTINATIONS = 50;
const ROOMS = 2;
const DRAIN_TIMEOUT_MS = 4 * 60_000;
const INSTANCES = ["main", "sender1", "sender2"] as const;
type Instance = (typeof INSTANCES)[number];
const V10 = getRoomVersion("10");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const between = (min: number, max: number) => min + Math.random() * (max - min);

function say(line: string): void {
  process.stdout.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** A child process started again on demand; its output goes to one log file. */
class Managed {
  proc: ChildProcess | null = null;
  restarts = 0;

  constructor(readonly name: string, private readonly command: string, private readonly args: string[], private readonly log: WriteStream, private readonly readyLine: string) {}

  async start(): Promise<void> {
    const proc = spawn(this.command, this.args, { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    proc.stderr!.on("data", (chunk: Buffer) => this.log.write(`[${this.name}] ${chunk.toString("utf8")}`));
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`${this.name} did not start within 60 s`)), 60_000);
      proc.stdout!.on("data", (chunk: Buffer) => {
        this.log.write(`[${this.name}] ${chunk.toString("utf8")}`);
        out += chunk.toString("utf8");
        if (out.includes(this.readyLine)) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code ?? signal}) while starting; see the log`));
      });
    });
  }

  /** SIGKILL, as a crash: nothing is flushed. */
  async kill(): Promise<void> {
    const proc = this.proc ?? undefined;
    this.proc = null;
    await killHard(proc);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

interface SentEvent {
  roomId: string;
  eventId: string;
}

async function control<T>(mainUrl: string, call: string, body: unknown, timeoutMs: number): Promise<T> {
  const res = await fetch(`${mainUrl}/_soak/${call}`, {
    method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(timeoutMs),
  });
  const json = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(`${call}: HTTP ${res.status} ${json.error ?? ""}`);
  return json;
}

/** A soak destination's federation client towards main, signing as that destination. */
function remoteClient(name: string, key: SigningKey, mainUrl: string, agent: Agent): { client: TransportLayerClient; close(): Promise<void> } {
  const discovery = new ServerDiscovery({ resolver: offlineDnsResolver, wellKnownDispatcher: agent, overrides: { [ORIGIN]: mainUrl } });
  const http = new MatrixFederationClient({ serverName: name, signingKey: key, discovery, ipFilter: new IpRangeFilter(), verifyCertificates: false });
  return { client: new TransportLayerClient(http), close: () => http.close() };
}

/** Each soak destination joins each room through main, as a remote server would (make_join, sign, send_join). */
async function joinRooms(receivers: SoakReceiver[], clients: Map<string, TransportLayerClient>, keys: Map<string, SigningKey>, roomIds: string[]): Promise<void> {
  for (const receiver of receivers) {
    const name = receiver.serverName;
    const client = clients.get(name)!;
    for (const roomId of roomIds) {
      const template = await client.makeJoin(ORIGIN, roomId, `@member:${name}`, ["10"]);
      const { event, eventId } = signNewEvent(finishEvent(template.event, V10, name, Date.now()), V10, name, keys.get(name)!);
      await client.sendJoin(ORIGIN, roomId, eventId, event);
    }
  }
}

/**
 * What the destination would pull with get_missing_events where a PDU it got has prev_events it lacks: walks back
 * from each such gap, 20 events a request (main's cap), until nothing is missing. As earliest_events it names the
 * events it holds just below the gap (a room here is a chain, one event per depth), not all it holds (10,000 IDs
 * make a 470 KB request). Where that fills nothing, it asks again naming everything; a gap even that cannot fill
 * is left, and its events count as missing.
 */
async function fetchGaps(client: TransportLayerClient, receiver: SoakReceiver): Promise<Set<string>> {
  const fetched = new Map<string, { eventId: string; roomId: string; prevEvents: string[]; depth: number }>();
  const known = (id: string) => receiver.pdus.has(id) || fetched.has(id);
  const unfillable = new Set<string>();
  const rooms = new Set([...receiver.pdus.values()].map((p) => p.roomId));
  for (const roomId of rooms) {
    const held = () => [...receiver.pdus.values(), ...fetched.values()].filter((p) => p.roomId === roomId);
    const ask = async (earliest: string[], top: string) => {
      const events = await client.getMissingEvents(ORIGIN, roomId, { earliest_events: earliest, latest_events: [top], limit: 20, min_depth: 0 });
      const fresh = events
        .map((e) => ({ eventId: computeEventId(e, V10), roomId, prevEvents: (e.prev_events as string[] | undefined) ?? [], depth: Number(e.depth) }))
        .filter((e) => !known(e.eventId));
      for (const e of fresh) fetched.set(e.eventId, e);
      return fresh.length;
    };
    for (;;) {
      const holding = held();
      const top = holding.find((p) => !unfillable.has(p.eventId) && p.prevEvents.some((id) => !known(id)));
      if (!top) break;
      const below = holding.filter((p) => p.depth < top.depth);
      const bottom = Math.max(0, ...below.map((p) => p.depth));
      if ((await ask(below.filter((p) => p.depth >= bottom - 10).map((p) => p.eventId), top.eventId)) > 0) continue;
      if ((await ask(holding.filter((p) => p !== top).map((p) => p.eventId), top.eventId)) === 0) unfillable.add(top.eventId);
    }
  }
  return new Set(fetched.keys());
}

/** Destinations that do not have the newest event of every room yet (catch-up must bring those). */
function behind(receivers: SoakReceiver[], sent: SentEvent[]): SoakReceiver[] {
  const newest = new Map<string, string>();
  for (const e of sent) newest.set(e.roomId, e.eventId);
  return receivers.filter((r) => [...newest.values()].some((id) => !r.pdus.has(id)));
}

interface DestinationReport {
  destination: string;
  sent: number;
  received: number;
  fetched: number;
  missing: number;
  duplicates: number;
  resent: number;
  corrupt: number;
  faults: number;
}

/** What each destination got of the acknowledged events, in transactions or by get_missing_events. */
function assess(receivers: SoakReceiver[], sent: SentEvent[], faults: Map<string, number>, fetched: Map<string, Set<string>>): DestinationReport[] {
  return receivers.map((r) => {
    const pulled = fetched.get(r.serverName) ?? new Set<string>();
    const received = sent.filter((e) => r.pdus.has(e.eventId)).length;
    const gotByFetch = sent.filter((e) => !r.pdus.has(e.eventId) && pulled.has(e.eventId)).length;
    const duplicates = [...r.pduTransactions.values()].filter((txns) => txns.size > 1).length;
    return {
      destination: r.serverName, sent: sent.length, received, fetched: gotByFetch, missing: sent.length - received - gotByFetch,
      duplicates, resent: r.resentTransactions, corrupt: r.corrupt, faults: faults.get(r.serverName) ?? 0,
    };
  });
}

function table(rows: DestinationReport[]): string {
  const header = ["destination", "sent", "received", "fetched", "missing", "dup PDUs", "resent txns", "corrupt", "faults"];
  const lines = rows.map((r) => [r.destination, r.sent, r.received, r.fetched, r.missing, r.duplicates, r.resent, r.corrupt, r.faults].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [format(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(format)].join("\n");
}

async function soak(minutes: number, events: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-soak-"));
  const log = createWriteStream(join(dir, "processes.log"));
  say(`working directory ${dir} (process logs in processes.log)`);
  const db = await createTestDatabase();
  const processes = new Map<string, Managed>();
  const receivers: SoakReceiver[] = [];
  let redis: PrivateRedis | undefined;
  let redisRestarts = 0;
  const agent = new Agent();
  const remotes = new Map<string, TransportLayerClient>();
  const closers: Array<() => Promise<void>> = [];
  let exitCode = 1;
  try {
    // Keys: the origin's is written before start, so the receivers can check what it signs.
    const originKey = generateSigningKey("soak");
    writeFileSync(join(dir, "signing.key"), formatSigningKeyFile(originKey));
    const keys = new Map<string, SigningKey>();
    const verifyKeys = new Map<string, Map<string, KeyObject>>([[ORIGIN, new Map([[originKey.keyId, originKey.publicKey]])]]);
    for (let i = 0; i < DESTINATIONS; i++) {
      const name = `d${String(i).padStart(2, "0")}.soak`;
      const key = generateSigningKey("r");
      keys.set(name, key);
      verifyKeys.set(name, new Map([[key.keyId, publicKeyFromBase64(key.publicKeyBase64)]]));
      receivers.push(new SoakReceiver(name, await freePort(), key, ORIGIN));
    }
    for (const r of receivers) {
      r.trustKeys(verifyKeys);
      await r.listen();
    }

    redis = await PrivateRedis.start();

    const ports = Object.fromEntries(await Promise.all(INSTANCES.map(async (i) => [i, await freePort()] as const))) as Record<Instance, number>;
    const mainUrl = `http://127.0.0.1:${ports.main}`;
    const configPath = join(dir, "config.json");
    // JSON is YAML: the config file is the one format loadConfig reads
    writeFileSync(configPath, JSON.stringify({
      server_name: ORIGIN,
      listeners: [{ host: "127.0.0.1", port: ports.main }],
      data_dir: dir,
      database: { url: db.url },
      redis: { url: redis.url },
      worker_replication_secret: "soak-replication-secret",
      instance_map: Object.fromEntries(INSTANCES.map((i) => [i, { host: "127.0.0.1", port: ports[i] }])),
      federation_sender_instances: ["sender1", "sender2"],
      federation_domain_overrides: Object.fromEntries(receivers.map((r) => [r.serverName, `http://127.0.0.1:${r.port}`])),
      // short backoff, so that destinations come back within the drain period
      federation: { destination_min_retry_interval: 1000, destination_retry_multiplier: 2, destination_max_retry_interval: 15_000 },
      log_level: "warn",
    }, null, 2));
    for (const instance of INSTANCES) {
      const node = new Managed(instance, process.execPath, [
        "--import", "tsx", join(import.meta.dirname, "soak-node.ts"), "--config", configPath,
        "--role", instance === "main" ? "main" : "federation_sender", "--instance", instance, "--port", String(ports[instance]),
      ], log, `ready ${instance}`);
      processes.set(instance, node);
      await node.start();
    }
    say(`main and 2 senders up on PostgreSQL and redis :${redis.port}`);

    const { room_ids: roomIds } = await control<{ room_ids: string[] }>(mainUrl, "setup", { rooms: ROOMS }, 30_000);
    for (const r of receivers) {
      const remote = remoteClient(r.serverName, keys.get(r.serverName)!, mainUrl, agent);
      remotes.set(r.serverName, remote.client);
      closers.push(remote.close);
    }
    await joinRooms(receivers, remotes, keys, roomIds);
    say(`${DESTINATIONS} destinations joined ${ROOMS} rooms`);

    // ---- faults and traffic -------------------------------------------------------------------------------
    const sent: SentEvent[] = [];
    let inDoubt = 0;
    const faults = new Map<string, number>();
    const until = Date.now() + minutes * 60_000;
    const running = () => Date.now() < until;

    // Events are paced evenly over the duration, one client per room (so each room's acknowledged order is its
    // order). A send that fails (main is down, or died before answering) may or may not have created its event: it
    // is not counted, and the slot is tried again.
    const perRoom = Math.ceil(events / roomIds.length);
    const sendInterval = (minutes * 60_000) / perRoom;
    const trafficStarted = Date.now();
    const traffic = Promise.all(roomIds.map(async (roomId) => {
      for (let index = 0; index < perRoom && running();) {
        await sleep(trafficStarted + index * sendInterval - Date.now());
        try {
          const { event_id } = await control<{ event_id: string }>(mainUrl, "send", { room_id: roomId, body: `soak-${index}` }, 10_000);
          sent.push({ roomId, eventId: event_id });
          index++;
        } catch {
          inDoubt++;
          await sleep(200);
        }
      }
    }));

    const destinationFaults = (async () => {
      const modes: FaultMode[] = ["error", "hang", "closed"];
      while (running()) {
        const healthy = receivers.filter((r) => r.faultMode === "ok");
        const r = pick(healthy);
        const mode = pick(modes);
        faults.set(r.serverName, (faults.get(r.serverName) ?? 0) + 1);
        await r.setMode(mode);
        const ms = between(2_000, 20_000);
        setTimeout(() => void r.setMode("ok"), Math.min(ms, Math.max(0, until - Date.now())));
        await sleep(between(300, 1_500));
      }
    })();

    const crashes = (async () => {
      let redisRestarted = false;
      const firstVictim = Math.floor(Math.random() * INSTANCES.length);
      let kills = 0;
      while (running()) {
        await sleep(Math.min(between(10_000, 30_000), Math.max(0, until - Date.now())));
        if (!running()) break;
        if (!redisRestarted && Date.now() > until - (minutes * 60_000) / 2) {
          redisRestarted = true;
          say("restarting redis");
          await redis.kill();
          await sleep(2_000);
          await redis.restart();
          redisRestarts++;
          continue;
        }
        // round-robin from a random start, so that each process is killed when there are three kills or more
        const victim = processes.get(INSTANCES[(firstVictim + kills++) % INSTANCES.length]!)!;
        say(`SIGKILL ${victim.name}`);
        await victim.kill();
        await sleep(between(500, 4_000));
        await victim.start();
        victim.restarts++;
      }
    })();

    await Promise.all([traffic, destinationFaults, crashes]);
    for (const r of receivers) await r.setMode("ok");
    say(`faults over: ${sent.length} of ${perRoom * roomIds.length} events acknowledged by main, ${inDoubt} sends failed or in doubt (not counted); draining`);

    // ---- drain ---------------------------------------------------------------------------------------------
    const drainStarted = Date.now();
    let lagging = behind(receivers, sent);
    while (lagging.length > 0 && Date.now() - drainStarted < DRAIN_TIMEOUT_MS) {
      await sleep(1_000);
      lagging = behind(receivers, sent);
      if ((Date.now() - drainStarted) % 15_000 < 1_000 && lagging.length > 0) say(`draining: ${lagging.length} destinations lack a room's newest event`);
    }
    const drainMs = Date.now() - drainStarted;
    say(lagging.length === 0 ? "every destination has every room's newest event; fetching the gaps with get_missing_events" : "drain timed out");
    const fetched = new Map<string, Set<string>>();
    // all at once: main's rc_federation lets each origin make about 10 requests a second
    await Promise.all(receivers.map(async (r) => fetched.set(r.serverName, await fetchGaps(remotes.get(r.serverName)!, r))));
    const reports = assess(receivers, sent, faults, fetched);

    process.stdout.write(table(reports) + "\n\n");
    const sum = (f: (r: DestinationReport) => number) => reports.reduce((n, r) => n + f(r), 0);
    const missing = sum((r) => r.missing);
    const corrupt = sum((r) => r.corrupt);
    say(`totals: sent ${sent.length} events × ${DESTINATIONS} destinations; received ${sum((r) => r.received)}, fetched by get_missing_events ${sum((r) => r.fetched)}, ` +
      `missing ${missing}; duplicate PDUs ${sum((r) => r.duplicates)}, transactions resent with their txnId ${sum((r) => r.resent)}, corrupt ${corrupt}`);
    say(`restarts survived: ${[...processes.values()].map((p) => `${p.name} ${p.restarts}`).join(", ")}, redis ${redisRestarts}; faults injected ${sum((r) => r.faults)}`);
    say(lagging.length === 0 ? `drained in ${(drainMs / 1000).toFixed(1)} s` : `NOT drained after ${(drainMs / 1000).toFixed(0)} s`);
    for (const r of receivers) for (const reason of r.corruptReasons) say(`corrupt at ${r.serverName}: ${reason}`);
    exitCode = missing === 0 && corrupt === 0 ? 0 : 1;
  } finally {
    for (const name of INSTANCES) await processes.get(name)?.stop();
    await redis?.kill();
    for (const close of closers) await close();
    await agent.close();
    for (const r of receivers) await r.close();
    await db.drop();
    await new Promise((resolve) => log.end(resolve));
    if (exitCode === 0) rmSync(dir, { recursive: true, force: true });
    else say(`kept ${dir} for its logs`);
  }
  return exitCode;
}

const { values } = parseArgs({ options: { minutes: { type: "string", default: "6" }, events: { type: "string", default: "10000" } }, strict: true });
const minutes = Number(values.minutes);
const events = Number(values.events);
if (!(minutes > 0) || !(Number.isInteger(events) && events > 0)) {
  process.stderr.write(`error: --minutes takes a positive number (got "${values.minutes}"), --events a positive integer (got "${values.events}")\n`);
  process.exit(1);
}
process.exitCode = await soak(minutes, events);
