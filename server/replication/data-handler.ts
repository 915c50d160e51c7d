/**
 * ReplicationDataHandler (Synapse: synapse/replication/tcp/client.py): receives the rows of each stream, in
 * token order and already validated, hands them to the handlers registered for that stream, and then
 * advances this process's position for (stream, writer). A POSITION without rows reaches the handlers as an
 * empty batch, so a consumer can move its own position forward (as Synapse's federation sender does).
 * It also fans out REMOTE_SERVER_UP and FEDERATION_ACK to whoever registered for them.
 */
import type { Token } from "./commands";
import type { PositionTracker } from "./positions";
import type { StreamDefinition } from "./streams/base";
import type { Logger } from "../http/router";

export interface RowBatch<R> {
  stream: string;
  /** the writer */
  instanceName: string;
  token: Token;
  /** empty when only the position moved */
  rows: R[];
}

export type RowHandler<R> = (batch: RowBatch<R>) => Promise<void> | void;

export interface ReplicationDataHandlerOptions {
  instanceName: string;
  positions: PositionTracker;
  log: Logger;
}

interface Waiter {
  token: Token;
  resolve: (reached: boolean) => void;
}

const key = (stream: string, instance: string) => `${stream}\u0000${instance}`;

export class ReplicationDataHandler {
  private readonly handlers = new Map<string, RowHandler<unknown>[]>();
  private readonly processed = new Map<string, Token>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly remoteServerUpListeners: Array<(server: string) => void> = [];
  private readonly federationAckListeners: Array<(instanceName: string, token: Token) => void> = [];
  private handlerErrors = 0;

  constructor(private readonly options: ReplicationDataHandlerOptions) {}

  /** Rows of `stream` go to `handler` (after those registered before it). Returns the unregister function. */
  register<R>(stream: StreamDefinition<R>, handler: RowHandler<R>): () => void {
    const list = this.handlers.get(stream.name) ?? [];
    list.push(handler as RowHandler<unknown>);
    this.handlers.set(stream.name, list);
    return () => {
      const i = list.indexOf(handler as RowHandler<unknown>);
      if (i >= 0) list.splice(i, 1);
    };
  }

  onRemoteServerUp(listener: (server: string) => void): void {
    this.remoteServerUpListeners.push(listener);
  }

  /** FEDERATION_ACK from a federation sender (main trims its in-memory federation stream with it). */
  onFederationAck(listener: (instanceName: string, token: Token) => void): void {
    this.federationAckListeners.push(listener);
  }

  /** How far this process has processed `stream` as written by `instanceName`; undefined before anything. */
  position(stream: string, instanceName: string): Token | undefined {
    return this.processed.get(key(stream, instanceName));
  }

  /**
   * Where to resume after a restart (e.g. the position a federation sender stored): the first POSITION from
   * the writer then fetches what was missed since. Without a seed a consumer starts at the writer's position.
   */
  seedPosition(stream: string, instanceName: string, token: Token): void {
    this.processed.set(key(stream, instanceName), token);
  }

  /** Handles one batch of rows sharing `token` (possibly empty) and advances the position to it. */
  async onRdata(stream: string, instanceName: string, token: Token, rows: unknown[]): Promise<void> {
    for (const handler of this.handlers.get(stream) ?? []) {
      try {
        await handler({ stream, instanceName, token, rows });
      } catch (e) {
        // A failing handler must not wedge the stream for the others; its owner recovers from its own state.
        this.handlerErrors++;
        this.options.log.error("replication row handler failed", { stream, instance: instanceName, token, error: (e as Error).stack ?? String(e) });
      }
    }
    const k = key(stream, instanceName);
    this.processed.set(k, token);
    this.options.positions.recordConsumer(stream, instanceName, this.options.instanceName, token);
    const waiting = this.waiters.get(k);
    if (waiting) {
      const still = waiting.filter((w) => w.token > token);
      for (const w of waiting) if (w.token <= token) w.resolve(true);
      if (still.length) this.waiters.set(k, still);
      else this.waiters.delete(k);
    }
  }

  onPosition(stream: string, instanceName: string, token: Token): Promise<void> {
    return this.onRdata(stream, instanceName, token, []);
  }

  /**
   * Resolves true once (stream, writer) is processed up to `token`, or false after `timeoutMs`
   * (Synapse's wait_for_stream_position, which also gives up rather than wedge its caller).
   */
  waitForPosition(stream: string, instanceName: string, token: Token, timeoutMs = 5000): Promise<boolean> {
    const current = this.position(stream, instanceName);
    if (current !== undefined && current >= token) return Promise.resolve(true);
    return new Promise((resolve) => {
      const k = key(stream, instanceName);
      const waiter: Waiter = {
        token,
        resolve: (reached) => {
          clearTimeout(timer);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => {
        const list = this.waiters.get(k);
        if (list) this.waiters.set(k, list.filter((w) => w !== waiter));
        resolve(false);
      }, timeoutMs);
      this.waiters.set(k, [...(this.waiters.get(k) ?? []), waiter]);
    });
  }

  remoteServerUp(server: string): void {
    for (const listener of this.remoteServerUpListeners) this.safely("REMOTE_SERVER_UP", () => listener(server));
  }

  federationAck(instanceName: string, token: Token): void {
    for (const listener of this.federationAckListeners) this.safely("FEDERATION_ACK", () => listener(instanceName, token));
  }

  stats(): { handlerErrors: number } {
    return { handlerErrors: this.handlerErrors };
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.handlerErrors++;
      this.options.log.error(`${what} listener failed`, { error: (e as Error).message });
    }
  }
}
