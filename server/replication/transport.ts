/**
 * What carries replication commands between processes: Redis pub/sub when scaled out (redis.ts), an
 * in-process bus in the embedded mode (local-bus.ts). Both deliver every command published, our own included,
 * to every member; the command handler drops its own echoes.
 */
import type { Command } from "./commands";

/**
 * One period of being connected. A reconnect is a new connection: streams must be positioned again on it
 * before their rows are trusted (rows published while we were away were missed).
 */
export interface ReplicationConnection {
  readonly id: string;
}

export interface TransportListener {
  /** subscribed and able to publish; the handler now sends REPLICATE and its own positions */
  onConnected(connection: ReplicationConnection): void;
  onCommand(connection: ReplicationConnection, command: Command): void;
  /** a line that is not a command we know how to read; never fatal */
  onMalformed(line: string, error: Error): void;
  onDisconnected(connection: ReplicationConnection): void;
}

export interface ReplicationTransport {
  /** for logs and the console, e.g. `redis redis://127.0.0.1:6379 channel example.org` */
  readonly description: string;
  start(listener: TransportListener): Promise<void>;
  /** publishes to every member (ourselves included); failures are logged, never thrown */
  send(command: Command): void;
  stop(): Promise<void>;
}
