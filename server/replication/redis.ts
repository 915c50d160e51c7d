/**
 * Replication over Redis pub/sub, as Synapse does it (synapse/replication/tcp/redis.py): one connection
 * SUBSCRIBEd to the channel `<server_name>`, another to PUBLISH commands (a subscribed connection cannot
 * publish); USER_IP goes to `<server_name>/USER_IP`. Every (re)connection subscribes first and only then
 * reports itself connected, so the REPLICATE sent next cannot miss the POSITIONs it asks for. Both connections
 * are PINGed every few seconds; one that stays silent is dropped and made again.
 */
import { Redis, type RedisOptions } from "ioredis";
import { parseCommand, redisChannel, serializeCommand, type Command } from "./commands";
import type { ReplicationConnection, ReplicationTransport, TransportListener } from "./transport";
import type { Logger } from "../http/router";

export interface RedisTransportOptions {
  url: string;
  /** the server name: Synapse's channel prefix */
  channel: string;
  /** names the Redis connections (CLIENT LIST) */
  instanceName: string;
  log: Logger;
  now?: () => number;
  /** Redis-level PING of the subscriber connection (default 5 s) */
  keepaliveIntervalMs?: number;
  /** no reply or message for this long: the connection is dead, reconnect (default 25 s) */
  deadAfterMs?: number;
}

/** Reconnect delays: quick at first, at most 5 s apart (Synapse's maxDelay). */
const retryStrategy = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 6), 5000);

export class RedisTransport implements ReplicationTransport {
  readonly description: string;
  private subscriber: Redis | undefined;
  private publisher: Redis | undefined;
  private listener: TransportListener | undefined;
  private connection: ReplicationConnection | undefined;
  private generation = 0;
  /** when each connection last showed it is alive (a reply or a message) */
  private lastHeard = 0;
  private publisherLastHeard = 0;
  private keepalive: NodeJS.Timeout | undefined;
  private stopped = false;
  /** the publisher's socket is corked until the end of the current synchronous run */
  private corked = false;
  private readonly now: () => number;

  constructor(private readonly options: RedisTransportOptions) {
    this.now = options.now ?? Date.now;
    this.description = `redis ${redactUrl(options.url)} channel ${options.channel}`;
  }

  async start(listener: TransportListener): Promise<void> {
    if (this.listener) throw new Error("transport already started");
    this.listener = listener;
    const { url, instanceName, log } = this.options;
    const common: RedisOptions = { lazyConnect: true, retryStrategy };
    // We subscribe ourselves on every "ready" so that the connected callback follows a completed SUBSCRIBE.
    const subscriber = new Redis(url, { ...common, autoResubscribe: false, connectionName: `switchyard:${instanceName}:subscriber` });
    const publisher = new Redis(url, { ...common, connectionName: `switchyard:${instanceName}:publisher` });
    this.subscriber = subscriber;
    this.publisher = publisher;
    subscriber.on("ready", () => void this.subscribe(subscriber));
    subscriber.on("message", (_channel: string, message: string) => this.onMessage(message));
    subscriber.on("close", () => this.lost());
    subscriber.on("error", (e: Error) => log.debug("redis subscriber error", { error: e.message }));
    publisher.on("ready", () => { this.publisherLastHeard = this.now(); });
    publisher.on("error", (e: Error) => log.debug("redis publisher error", { error: e.message }));
    this.keepalive = setInterval(() => this.checkAlive(subscriber, publisher), this.options.keepaliveIntervalMs ?? 5000);
    this.keepalive.unref();
    // Failures here are retried by ioredis; the handler learns of the connection through onConnected.
    subscriber.connect().catch((e: Error) => log.warn("cannot connect to redis yet; retrying", { error: e.message }));
    publisher.connect().catch(() => undefined);
  }

  send(command: Command): void {
    const publisher = this.publisher;
    if (!publisher) throw new Error("transport not started");
    let line: string;
    try {
      line = serializeCommand(command);
    } catch (e) {
      this.options.log.error("cannot serialise replication command", { command: command.name, error: (e as Error).message });
      return;
    }
    this.batchWrites(publisher);
    publisher.publish(redisChannel(command, this.options.channel), line)
      .catch((e: Error) => this.options.log.warn("redis publish failed", { command: command.name, error: e.message }));
  }

  /**
   * Commands published in one synchronous run (the streamer's page of RDATA) leave in one write: the socket is
   * corked until the run ends. A write per command costs a syscall each, more than the command itself.
   */
  private batchWrites(publisher: Redis): void {
    if (this.corked || publisher.status !== "ready") return;
    const stream = publisher.stream;
    this.corked = true;
    stream.cork();
    queueMicrotask(() => {
      this.corked = false;
      stream.uncork();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.keepalive) clearInterval(this.keepalive);
    this.lost();
    await Promise.all([this.subscriber, this.publisher].map(async (r) => {
      if (!r) return;
      // QUIT waits for Redis to answer; a dead connection never would.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([r.quit().catch(() => undefined), new Promise((resolve) => { timer = setTimeout(resolve, 1000); })]);
      clearTimeout(timer);
      r.disconnect();
    }));
  }

  private async subscribe(subscriber: Redis): Promise<void> {
    const generation = ++this.generation;
    try {
      await subscriber.subscribe(this.options.channel);
    } catch (e) {
      this.options.log.warn("redis SUBSCRIBE failed; reconnecting", { error: (e as Error).message });
      subscriber.disconnect(true);
      return;
    }
    if (generation !== this.generation || this.stopped) return;
    this.lastHeard = this.now();
    this.connection = { id: `redis-${generation}` };
    this.options.log.info("replication connected", { transport: this.description, connection: this.connection.id });
    this.listener?.onConnected(this.connection);
  }

  private onMessage(message: string): void {
    this.lastHeard = this.now();
    const connection = this.connection;
    if (!connection || !this.listener || message.trim() === "") return;
    let command: Command;
    try {
      command = parseCommand(message);
    } catch (e) {
      this.listener.onMalformed(message, e as Error);
      return;
    }
    this.listener.onCommand(connection, command);
  }

  private lost(): void {
    const connection = this.connection;
    if (!connection) return;
    this.connection = undefined;
    this.options.log.info("replication connection lost", { transport: this.description, connection: connection.id });
    this.listener?.onDisconnected(connection);
  }

  private checkAlive(subscriber: Redis, publisher: Redis): void {
    const deadAfterMs = this.options.deadAfterMs ?? 25_000;
    if (this.connection) {
      if (this.now() - this.lastHeard > deadAfterMs) {
        this.options.log.warn("redis subscriber connection silent; reconnecting", { transport: this.description });
        subscriber.disconnect(true);
      } else {
        subscriber.ping().then(() => { this.lastHeard = this.now(); }, () => undefined);
      }
    }
    if (publisher.status === "ready") {
      if (this.now() - this.publisherLastHeard > deadAfterMs) {
        this.options.log.warn("redis publisher connection silent; reconnecting", { transport: this.description });
        publisher.disconnect(true);
      } else {
        publisher.ping().then(() => { this.publisherLastHeard = this.now(); }, () => undefined);
      }
    }
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString().replace(/\/$/, "");
  } catch {
    return "redis";
  }
}
