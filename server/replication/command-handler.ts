/**
 * ReplicationCommandHandler (Synapse: synapse/replication/tcp/handler.py): the process's end of the
 * replication bus. On each new connection it sends REPLICATE and has the streamer announce our positions; it
 * answers REPLICATE the same way. RDATA and POSITION are queued per stream and handled one at a time:
 *   - our own echoes are dropped (the instance name is ours);
 *   - RDATA for a stream not yet positioned on this connection, or at or before our position, is dropped;
 *     rows tagged "batch" wait for the row carrying the numeric token and are applied with it;
 *   - POSITION s i prev new: rows are missing unless prev ≤ current ≤ new; they are fetched from the writer
 *     (HTTP update function, about 100 a call while `limited`) and applied before the position moves to new.
 * A failed catch-up is retried with backoff; meanwhile the stream's RDATA is dropped (it is fetched instead).
 * Every command naming an instance also updates the positions shown in the console. Unknown or malformed
 * lines are logged and counted, never fatal. An observer (another deployment's Redis) publishes only REPLICATE.
 */
import { CommandParseError, pingData, pingInstance, type Command, type CommandOf, type Token } from "./commands";
import type { ReplicationDataHandler } from "./data-handler";
import type { PositionTracker } from "./positions";
import { getUpdatesSince, groupByToken, type StreamDefinition, type StreamUpdateResult, type UpdateFunction } from "./streams/base";
import { streamsByName } from "./streams";
import type { ReplicationConnection, ReplicationTransport, TransportListener } from "./transport";
import type { Logger } from "../http/router";

export interface ReplicationCommandHandlerOptions {
  instanceName: string;
  transport: ReplicationTransport;
  positions: PositionTracker;
  log: Logger;
  now?: () => number;
  /** streams whose rows this process applies; commands for other streams only move the positions shown */
  streams?: readonly StreamDefinition[];
  dataHandler?: ReplicationDataHandler;
  /** how to read missed rows from their writer, per stream; without one a gap only moves the position */
  catchUp?: (streamName: string) => UpdateFunction<unknown> | undefined;
  /** the writer side: announce our streams' positions (on each new connection and each REPLICATE) */
  announcePositions?: () => void;
  /** publish nothing but REPLICATE and apply no rows: watching another deployment */
  observer?: boolean;
  /** send REPLICATE on each new connection (default true) */
  replicate?: boolean;
  /** our keepalive PING (default 5 s) */
  pingIntervalMs?: number;
  /** longest wait between catch-up retries (default 30 s) */
  retryMaxMs?: number;
}

export interface ReplicationStats {
  transport: string;
  connected: boolean;
  connection: string | null;
  inbound: Record<string, number>;
  outbound: Record<string, number>;
  malformed: number;
  unknownCommands: number;
  lastMalformed: { line: string; error: string; ts: number } | null;
  /** RDATA rows that failed their stream's row schema */
  rowsRejected: number;
  /** RDATA dropped: stream not positioned on this connection yet, or token not newer */
  rdataDropped: number;
  catchUps: number;
  catchUpRows: number;
  catchUpFailures: number;
}

type StreamCommand = CommandOf<"RDATA"> | CommandOf<"POSITION">;

interface Queued {
  connection: ReplicationConnection;
  command: StreamCommand;
}

const MAX_LOGGED_LINE = 200;

export class ReplicationCommandHandler {
  private readonly streams: ReadonlyMap<string, StreamDefinition>;
  private readonly now: () => number;
  private connection: ReplicationConnection | undefined;
  /** streams positioned on the current connection: their RDATA can be applied */
  private readonly positioned = new Set<string>();
  /** "batch" rows waiting for their token, per stream and writer */
  private readonly pendingBatches = new Map<string, unknown[]>();
  private readonly queues = new Map<string, Queued[]>();
  private readonly processing = new Map<string, Promise<void>>();
  /** POSITIONs received per stream, so a retry does not replay an older one */
  private readonly positionGeneration = new Map<string, number>();
  private readonly retryAttempts = new Map<string, number>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly connectedWaiters: Array<() => void> = [];
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly counters: Omit<ReplicationStats, "transport" | "connected" | "connection"> = {
    inbound: {}, outbound: {}, malformed: 0, unknownCommands: 0, lastMalformed: null,
    rowsRejected: 0, rdataDropped: 0, catchUps: 0, catchUpRows: 0, catchUpFailures: 0,
  };

  constructor(private readonly options: ReplicationCommandHandlerOptions) {
    this.streams = streamsByName(options.streams ?? []);
    this.now = options.now ?? Date.now;
  }

  get instanceName(): string {
    return this.options.instanceName;
  }

  async start(): Promise<void> {
    const listener: TransportListener = {
      onConnected: (c) => this.onConnected(c),
      onDisconnected: (c) => this.onDisconnected(c),
      onCommand: (c, command) => this.onCommand(c, command),
      onMalformed: (line, error) => this.onMalformed(line, error),
    };
    await this.options.transport.start(listener);
    if (!this.options.observer) {
      this.pingTimer = setInterval(() => {
        if (this.connection) this.send({ name: "PING", data: pingData(this.now(), this.options.instanceName) });
      }, this.options.pingIntervalMs ?? 5000);
      this.pingTimer.unref();
    }
  }

  /** Stops publishing and receiving, after the commands already queued are handled. */
  async stop(): Promise<void> {
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    await this.options.transport.stop();
    await this.idle();
  }

  connected(): boolean {
    return this.connection !== undefined;
  }

  /** Resolves once connected (at once if already). */
  whenConnected(): Promise<void> {
    if (this.connection) return Promise.resolve();
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  /** Resolves when every queued RDATA and POSITION has been handled. */
  async idle(): Promise<void> {
    while (this.processing.size > 0) await Promise.all(this.processing.values());
  }

  /** Publishes a command; dropped (as Synapse does) while not connected. An observer may only send REPLICATE. */
  send(command: Command): void {
    if (this.options.observer && command.name !== "REPLICATE") {
      this.options.log.warn("observer does not publish", { command: command.name });
      return;
    }
    if (!this.connection) {
      this.options.log.debug("dropping command: not connected", { command: command.name });
      return;
    }
    this.counters.outbound[command.name] = (this.counters.outbound[command.name] ?? 0) + 1;
    this.options.transport.send(command);
  }

  /** A federation sender tells the writer how far it has processed the federation stream. */
  sendFederationAck(token: Token): void {
    this.send({ name: "FEDERATION_ACK", instanceName: this.options.instanceName, token });
  }

  /** Tells every process that `server` answers again, so their queues and backoff forget its failures. */
  sendRemoteServerUp(server: string): void {
    this.send({ name: "REMOTE_SERVER_UP", server });
  }

  stats(): ReplicationStats {
    const c = this.counters;
    return {
      transport: this.options.transport.description,
      connected: this.connection !== undefined,
      connection: this.connection?.id ?? null,
      ...c,
      inbound: { ...c.inbound },
      outbound: { ...c.outbound },
    };
  }

  private onConnected(connection: ReplicationConnection): void {
    this.connection = connection;
    this.positioned.clear();
    for (const resolve of this.connectedWaiters.splice(0)) resolve();
    if (this.options.replicate ?? true) this.send({ name: "REPLICATE" });
    if (!this.options.observer) this.options.announcePositions?.();
  }

  private onDisconnected(connection: ReplicationConnection): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    this.positioned.clear();
  }

  private onMalformed(line: string, error: Error): void {
    if (error instanceof CommandParseError && error.unknownCommand) this.counters.unknownCommands++;
    else this.counters.malformed++;
    const shown = line.length > MAX_LOGGED_LINE ? `${line.slice(0, MAX_LOGGED_LINE)}…` : line;
    this.counters.lastMalformed = { line: shown, error: error.message, ts: this.now() };
    this.options.log.warn("cannot parse replication line", { line: shown, error: error.message });
  }

  private onCommand(connection: ReplicationConnection, command: Command): void {
    if (connection !== this.connection) return;
    this.counters.inbound[command.name] = (this.counters.inbound[command.name] ?? 0) + 1;
    const { positions, dataHandler } = this.options;
    const self = this.options.instanceName;
    switch (command.name) {
      case "RDATA":
      case "POSITION": {
        if (command.instanceName === self) return; // our own echo
        const token = command.name === "RDATA" ? command.token : command.newToken;
        if (token !== null) positions.recordWriter(command.streamName, command.instanceName, token);
        else positions.seen(command.instanceName);
        if (this.options.observer || !dataHandler) return;
        const stream = this.streams.get(command.streamName);
        if (!stream) {
          this.options.log.debug("command for a stream we do not follow", { command: command.name, stream: command.streamName });
          return;
        }
        if (command.name === "POSITION") {
          if (this.canDiscardPosition(stream, command)) return;
          this.positionGeneration.set(stream.name, (this.positionGeneration.get(stream.name) ?? 0) + 1);
        }
        this.enqueue(stream.name, { connection, command });
        return;
      }
      case "REPLICATE":
        if (!this.options.observer) this.options.announcePositions?.();
        return;
      case "FEDERATION_ACK":
        if (command.instanceName === self) return;
        positions.seen(command.instanceName);
        for (const writer of positions.writersOf("federation")) positions.recordConsumer("federation", writer, command.instanceName, command.token);
        if (!this.options.observer) dataHandler?.federationAck(command.instanceName, command.token);
        return;
      case "REMOTE_SERVER_UP":
        if (!this.options.observer) dataHandler?.remoteServerUp(command.server);
        return;
      case "PING": {
        const instance = pingInstance(command.data);
        if (instance !== undefined && instance !== self) positions.seen(instance);
        return;
      }
      case "ERROR":
        this.options.log.warn("replication peer reported an error", { error: command.data });
        return;
      case "LOCK_RELEASED":
        if (command.instanceName !== self) positions.seen(command.instanceName);
        return;
      default:
        // USER_SYNC, USER_IP, tasks, SERVER, NAME: nothing in Switchyard acts on them.
        this.options.log.debug("replication command ignored", { command: command.name });
    }
  }

  /** A POSITION at or before where we are, on a stream that cannot go back, tells us nothing. */
  private canDiscardPosition(stream: StreamDefinition, command: CommandOf<"POSITION">): boolean {
    if (stream.resettable || !this.positioned.has(stream.name)) return false;
    const current = this.options.dataHandler?.position(stream.name, command.instanceName);
    return current !== undefined && command.newToken <= current;
  }

  private enqueue(stream: string, item: Queued): void {
    const queue = this.queues.get(stream) ?? [];
    queue.push(item);
    this.queues.set(stream, queue);
    this.kick(stream, queue);
  }

  private kick(stream: string, queue: Queued[]): void {
    if (this.processing.has(stream)) return;
    const run = this.drain(stream, queue).finally(() => {
      this.processing.delete(stream);
      // An item queued between the drain's last look and now would otherwise wait for the next command.
      if (queue.length) this.kick(stream, queue);
    });
    this.processing.set(stream, run);
  }

  private async drain(stream: string, queue: Queued[]): Promise<void> {
    for (let item = queue.shift(); item; item = queue.shift()) {
      try {
        if (item.command.name === "RDATA") await this.processRdata(item.connection, item.command);
        else await this.processPosition(item.connection, item.command);
      } catch (e) {
        this.options.log.error("failed to handle replication command", { stream, command: item.command.name, error: (e as Error).stack ?? String(e) });
      }
    }
  }

  private parseRows(stream: StreamDefinition, rows: unknown[], context: string): unknown[] {
    const parsed: unknown[] = [];
    for (const row of rows) {
      const result = stream.row.safeParse(row);
      if (result.success) {
        parsed.push(result.data);
      } else {
        this.counters.rowsRejected++;
        this.options.log.warn("replication row does not match its stream", { stream: stream.name, via: context, row: JSON.stringify(row).slice(0, MAX_LOGGED_LINE), error: result.error.issues[0]?.message });
      }
    }
    return parsed;
  }

  private async processRdata(connection: ReplicationConnection, command: CommandOf<"RDATA">): Promise<void> {
    const dataHandler = this.options.dataHandler!;
    const stream = this.streams.get(command.streamName)!;
    if (connection !== this.connection || !this.positioned.has(stream.name)) {
      // We will get a POSITION soon and fetch these rows then.
      this.counters.rdataDropped++;
      return;
    }
    const [row] = this.parseRows(stream, [command.row], "RDATA");
    const batchKey = `${stream.name}\u0000${command.instanceName}`;
    const pending = this.pendingBatches.get(batchKey) ?? [];
    if (command.token === null) {
      if (row !== undefined) this.pendingBatches.set(batchKey, [...pending, row]);
      return;
    }
    this.pendingBatches.delete(batchKey);
    const rows = row === undefined ? pending : [...pending, row];
    const current = dataHandler.position(stream.name, command.instanceName);
    if (current !== undefined && command.token <= current) {
      this.counters.rdataDropped++;
      return;
    }
    await dataHandler.onRdata(stream.name, command.instanceName, command.token, rows);
  }

  private async processPosition(connection: ReplicationConnection, command: CommandOf<"POSITION">): Promise<void> {
    const dataHandler = this.options.dataHandler!;
    const stream = this.streams.get(command.streamName)!;
    if (connection !== this.connection) return;
    if (this.canDiscardPosition(stream, command)) return;
    const generation = this.positionGeneration.get(stream.name) ?? 0;
    // Catching up: this stream's RDATA waits until we are there; the fetch includes any half-received batch.
    this.positioned.delete(stream.name);
    for (const k of [...this.pendingBatches.keys()]) if (k.startsWith(`${stream.name}\u0000`)) this.pendingBatches.delete(k);

    const known = dataHandler.position(stream.name, command.instanceName);
    if (known === undefined) {
      this.options.log.info("replication stream starts at the writer's position", { stream: stream.name, instance: command.instanceName, token: command.newToken });
    }
    let current: Token = known ?? command.newToken;
    const updateFunction = this.options.catchUp?.(stream.name);
    let missing = !(command.prevToken <= current && current <= command.newToken);
    if (missing && !updateFunction) {
      this.options.log.warn("replication rows missed with no way to fetch them", { stream: stream.name, instance: command.instanceName, from: current, upto: command.newToken });
    }
    if (missing && updateFunction) this.counters.catchUps++;
    try {
      while (missing && updateFunction) {
        this.options.log.info("fetching missed replication rows", { stream: stream.name, instance: command.instanceName, from: current, upto: command.newToken });
        const result: StreamUpdateResult<unknown> = await getUpdatesSince(updateFunction, command.instanceName, current, command.newToken);
        for (const [token, rows] of groupByToken(result.updates)) {
          this.counters.catchUpRows += rows.length;
          await dataHandler.onRdata(stream.name, command.instanceName, token, this.parseRows(stream, rows, "catch-up"));
        }
        current = result.upto_token;
        missing = result.limited;
      }
    } catch (e) {
      this.counters.catchUpFailures++;
      this.scheduleRetry(connection, command, generation, e as Error);
      return;
    }
    this.retryAttempts.delete(stream.name);
    await dataHandler.onPosition(stream.name, command.instanceName, command.newToken);
    if (connection === this.connection) this.positioned.add(stream.name);
  }

  private scheduleRetry(connection: ReplicationConnection, command: CommandOf<"POSITION">, generation: number, error: Error): void {
    const attempt = this.retryAttempts.get(command.streamName) ?? 0;
    this.retryAttempts.set(command.streamName, attempt + 1);
    const delay = Math.min(1000 * 2 ** attempt, this.options.retryMaxMs ?? 30_000);
    this.options.log.warn("replication catch-up failed; retrying", { stream: command.streamName, instance: command.instanceName, retry_in_ms: delay, error: error.message });
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      // A newer POSITION or a new connection supersedes this one.
      if (connection !== this.connection || this.positionGeneration.get(command.streamName) !== generation) return;
      this.enqueue(command.streamName, { connection, command });
    }, delay);
    timer.unref();
    this.retryTimers.add(timer);
  }
}
