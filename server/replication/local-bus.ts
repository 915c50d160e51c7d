/**
 * The embedded mode's bus: the same command objects as Redis carries, passed between the replication handlers
 * of one process without a network. Like Redis it delivers each command to every member, the sender included,
 * in publication order and never synchronously inside `send` (a handler reacting to a command may publish).
 */
import type { Command } from "./commands";
import type { ReplicationConnection, ReplicationTransport, TransportListener } from "./transport";

export class LocalBus {
  private readonly members = new Set<LocalBusTransport>();
  private joined = 0;

  /** A transport attached to this bus (one per replication handler). */
  transport(): LocalBusTransport {
    return new LocalBusTransport(this, ++this.joined);
  }

  /** @internal used by LocalBusTransport */
  attach(member: LocalBusTransport): void {
    this.members.add(member);
  }

  /** @internal used by LocalBusTransport */
  detach(member: LocalBusTransport): void {
    this.members.delete(member);
  }

  /** @internal used by LocalBusTransport */
  publish(command: Command): void {
    for (const member of this.members) queueMicrotask(() => member.deliver(command));
  }
}

export class LocalBusTransport implements ReplicationTransport {
  readonly description: string;
  private listener: TransportListener | undefined;
  private connection: ReplicationConnection | undefined;

  constructor(private readonly bus: LocalBus, private readonly member: number) {
    this.description = `in-process bus member ${member}`;
  }

  async start(listener: TransportListener): Promise<void> {
    if (this.listener) throw new Error("transport already started");
    this.listener = listener;
    const connection = { id: `local-${this.member}` };
    this.connection = connection;
    this.bus.attach(this);
    queueMicrotask(() => listener.onConnected(connection));
  }

  send(command: Command): void {
    if (!this.connection) throw new Error("transport not started");
    this.bus.publish(command);
  }

  async stop(): Promise<void> {
    const connection = this.connection;
    this.bus.detach(this);
    this.connection = undefined;
    if (connection) this.listener?.onDisconnected(connection);
  }

  /** @internal called by the bus */
  deliver(command: Command): void {
    if (this.connection) this.listener?.onCommand(this.connection, command);
  }
}
