/**
 * ReplicationStreamer (Synapse: synapse/replication/tcp/resource.py): publishes the streams this process
 * writes. When poked (new data) and once a second, it reads each stream's rows since what it last published
 * and sends them as RDATA, rows sharing a token as "batch" rows followed by the numeric one; when the position
 * moved without rows, or past the last row sent, it sends POSITION. On request (a new connection, REPLICATE)
 * it announces `POSITION s us last last` for every stream. Our own rows are also handed to this process's data
 * handler, so the embedded mode's federation sender follows the events stream like a separate worker does;
 * at start-up, a local consumer seeded with an older position is first given the rows it missed.
 */
import type { Command, Token } from "./commands";
import type { JsonValue } from "../crypto";
import type { ReplicationDataHandler } from "./data-handler";
import type { PositionTracker } from "./positions";
import { batchTokens, getUpdatesSince, groupByToken, type StreamWriter } from "./streams/base";
import type { Logger } from "../http/router";

export interface ReplicationStreamerOptions {
  instanceName: string;
  writers: readonly StreamWriter[];
  /** publishes a command (the command handler's send, which drops it while disconnected) */
  send: (command: Command) => void;
  positions: PositionTracker;
  /** this process's consumers of its own streams */
  dataHandler?: ReplicationDataHandler;
  log: Logger;
  /** how often to look for new rows without a poke (default 1 s, Synapse's events poll) */
  pollIntervalMs?: number;
}

export class ReplicationStreamer {
  private readonly lastToken = new Map<string, Token>();
  private pending = false;
  private announce = false;
  /** our own consumers may have stopped short of our position in a previous run */
  private localCatchUp = true;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ReplicationStreamerOptions) {
    for (const writer of options.writers) {
      const token = writer.currentToken();
      this.lastToken.set(writer.stream.name, token);
      options.positions.recordWriter(writer.stream.name, options.instanceName, token);
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.notify(), this.options.pollIntervalMs ?? 1000);
    this.timer.unref();
    this.notify();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.idle();
  }

  /** New rows may have been written: publish them soon. Cheap to call often. */
  notify(): void {
    if (!this.announce && !this.localCatchUp && this.options.writers.every((w) => this.lastToken.get(w.stream.name) === w.currentToken())) return;
    this.pending = true;
    this.kick();
  }

  private kick(): void {
    if (this.loop) return;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
      // A poke that came after the loop's last look, but before it ended, would otherwise wait for the poll.
      if (this.pending) this.kick();
    });
  }

  /** Announce every stream's position (a new connection, or someone sent REPLICATE). */
  announcePositions(): void {
    this.announce = true;
    this.notify();
  }

  /** Resolves when nothing is being published. */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  private async run(): Promise<void> {
    while (this.pending) {
      this.pending = false;
      if (this.localCatchUp) {
        try {
          await this.deliverMissedLocally();
          this.localCatchUp = false;
        } catch (e) {
          // Nothing newer may reach our consumers before what they missed: wait for the next poll.
          this.options.log.error("cannot catch our own consumers up", { error: (e as Error).stack ?? String(e) });
          return;
        }
      }
      if (this.announce) {
        this.announce = false;
        for (const writer of this.options.writers) {
          const token = this.lastToken.get(writer.stream.name)!;
          this.position(writer.stream.name, token, token);
        }
      }
      for (const writer of this.options.writers) {
        try {
          this.pending = (await this.publish(writer)) || this.pending;
        } catch (e) {
          // Left where it was: the next poke or poll tries again.
          this.options.log.error("cannot read replication stream updates", { stream: writer.stream.name, error: (e as Error).stack ?? String(e) });
        }
      }
    }
  }

  /** Publishes what `writer` has after what we last sent; returns whether more is waiting (limited). */
  private async publish(writer: StreamWriter): Promise<boolean> {
    const { instanceName, positions, dataHandler } = this.options;
    const name = writer.stream.name;
    const from = this.lastToken.get(name)!;
    const current = writer.currentToken();
    if (from === current) return false;
    const { updates, upto_token, limited } = await getUpdatesSince(writer.updateFunction, instanceName, from, current);
    this.lastToken.set(name, upto_token);
    positions.recordWriter(name, instanceName, upto_token);
    const lastRowToken = updates[updates.length - 1]?.[0];
    // Writers produce rows of their stream's schema, which are JSON arrays.
    for (const [token, row] of batchTokens(updates)) {
      this.options.send({ name: "RDATA", streamName: name, instanceName, token, row: row as JsonValue });
    }
    // Rows reached a token short of the position: tell consumers no rows lie between (also when there were none).
    if (lastRowToken === undefined || lastRowToken < upto_token) this.position(name, lastRowToken ?? from, upto_token);
    if (dataHandler) {
      for (const [token, rows] of groupByToken(updates)) await dataHandler.onRdata(name, instanceName, token, rows);
      if (lastRowToken === undefined || lastRowToken < upto_token) await dataHandler.onPosition(name, instanceName, upto_token);
    }
    return limited;
  }

  /**
   * Hands this process's consumers what we wrote between the position they were seeded with (stored before a
   * restart) and our current one: remote consumers get it through POSITION and HTTP, but our own echoes are
   * ignored, so ours would never hear of it.
   */
  private async deliverMissedLocally(): Promise<void> {
    const { dataHandler, instanceName } = this.options;
    if (!dataHandler) return;
    for (const writer of this.options.writers) {
      const name = writer.stream.name;
      const upto = this.lastToken.get(name)!;
      let from = dataHandler.position(name, instanceName);
      while (from !== undefined && from < upto) {
        const page = await getUpdatesSince(writer.updateFunction, instanceName, from, upto);
        for (const [token, rows] of groupByToken(page.updates)) await dataHandler.onRdata(name, instanceName, token, rows);
        from = page.limited ? page.upto_token : upto;
        if (!page.limited) await dataHandler.onPosition(name, instanceName, upto);
      }
    }
  }

  private position(stream: string, prevToken: Token, newToken: Token): void {
    this.options.send({ name: "POSITION", streamName: stream, instanceName: this.options.instanceName, prevToken, newToken });
  }
}
