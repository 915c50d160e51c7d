/**
 * Wiring of one process's replication: positions, data handler, command handler and streamer over a transport
 * (Redis or the in-process bus). The pieces take each other through their constructors; this is the one
 * place that closes the loop between the streamer (which publishes through the command handler) and the
 * command handler (which asks the streamer to announce positions).
 */
import { randomBytes } from "node:crypto";
import { ReplicationCommandHandler } from "./command-handler";
import { ReplicationDataHandler } from "./data-handler";
import { PositionTracker, type PositionTrackerOptions } from "./positions";
import { ReplicationStreamer } from "./streamer";
import { ALL_STREAMS, type StreamDefinition, type StreamWriter, type UpdateFunction } from "./streams";
import type { ReplicationTransport } from "./transport";
import type { Logger } from "../http/router";

export interface ReplicationOptions {
  instanceName: string;
  transport: ReplicationTransport;
  log: Logger;
  now?: () => number;
  /** the streams this process writes */
  writers?: readonly StreamWriter[];
  /** the streams whose rows this process applies (default: all of them) */
  streams?: readonly StreamDefinition[];
  /** reading missed rows from other writers, e.g. `(s) => makeHttpUpdateFunction(client, s)` */
  catchUp?: (streamName: string) => UpdateFunction<unknown> | undefined;
  positions?: Omit<PositionTrackerOptions, "instanceName" | "now">;
  /** our keepalive PING (default 5 s) */
  pingIntervalMs?: number;
}

export interface Replication {
  positions: PositionTracker;
  dataHandler: ReplicationDataHandler;
  commandHandler: ReplicationCommandHandler;
  streamer: ReplicationStreamer;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createReplication(options: ReplicationOptions): Replication {
  const { instanceName, log, now } = options;
  const positions = new PositionTracker({ ...options.positions, instanceName, now });
  const dataHandler = new ReplicationDataHandler({ instanceName, positions, log });
  const streamer: ReplicationStreamer = new ReplicationStreamer({
    instanceName, writers: options.writers ?? [], positions, dataHandler, log,
    send: (command) => commandHandler.send(command),
  });
  const commandHandler = new ReplicationCommandHandler({
    instanceName, transport: options.transport, positions, log, now, dataHandler,
    streams: options.streams ?? ALL_STREAMS, catchUp: options.catchUp, pingIntervalMs: options.pingIntervalMs,
    announcePositions: () => streamer.announcePositions(),
  });
  return {
    positions, dataHandler, commandHandler, streamer,
    async start() {
      positions.start();
      streamer.start();
      await commandHandler.start();
    },
    async stop() {
      await streamer.stop();
      await commandHandler.stop();
      positions.stop();
    },
  };
}

export interface Observer {
  positions: PositionTracker;
  commandHandler: ReplicationCommandHandler;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Watches another deployment's replication (e.g. a Synapse's Redis, channel = its server name): tracks its
 * writers' positions and its federation senders' acknowledgements, publishing nothing but REPLICATE, which
 * makes every writer announce its positions at once (Synapse answers it with POSITIONs, as for any worker).
 */
export function createObserver(options: { transport: ReplicationTransport; log: Logger; now?: () => number; replicate?: boolean; positions?: Omit<PositionTrackerOptions, "instanceName" | "now"> }): Observer {
  const positions = new PositionTracker({ ...options.positions, now: options.now });
  const commandHandler = new ReplicationCommandHandler({
    // A name no member uses, so that nothing is mistaken for our own echo.
    instanceName: `observer-${randomBytes(4).toString("hex")}`,
    transport: options.transport, positions, log: options.log, now: options.now,
    observer: true, replicate: options.replicate ?? true,
  });
  return {
    positions, commandHandler,
    async start() {
      positions.start();
      await commandHandler.start();
    },
    async stop() {
      await commandHandler.stop();
      positions.stop();
    },
  };
}

export * from "./command-handler";
export * from "./commands";
export * from "./data-handler";
export * from "./http-updates";
export * from "./local-bus";
export * from "./positions";
export * from "./redis";
export * from "./streamer";
export * from "./streams";
export * from "./transport";
