/**
 * A FederationSender on a real database with everything injectable that the fault tests need: a manual clock and
 * chosen jitter for the backoff, short request timeouts, instant retry sleeps, and destinations reached through
 * federation_domain_overrides (loopback only). `restart()` builds a new sender on the same database, as a process
 * restart would.
 */
import { Agent } from "undici";
import { generateSigningKey, type SigningKey } from "../../server/crypto";
import { Backoff, type BackoffConfig } from "../../server/federation/backoff";
import { FederationSender } from "../../server/federation/sender";
import { FederationShardConfig } from "../../server/federation/sender/sharding";
import { TransportLayerClient } from "../../server/federation/transport/client";
import { ServerDiscovery } from "../../server/federation/transport/discovery";
import { MatrixFederationClient } from "../../server/federation/transport/http-client";
import { IpRangeFilter } from "../../server/federation/transport/ip-range";
import { createLogger } from "../../server/log";
import { FederationMetrics } from "../../server/metrics";
import type { Database } from "../../server/store/database";
import { DestinationRoomStore } from "../../server/store/destination-room-store";
import { DestinationStore } from "../../server/store/destination-store";
import { DeviceOutboxStore } from "../../server/store/device-outbox-store";
import { FederationPositionStore } from "../../server/store/federation-position-store";
import { SentTransactionStore } from "../../server/store/sent-transaction-store";
import { ManualClock } from "../transport/helpers";
import { offlineDnsResolver } from "./homeserver";
import { TableEventSource } from "./sender-events";

export const BACKOFF: BackoffConfig = { destination_min_retry_interval: 600_000, destination_retry_multiplier: 2, destination_max_retry_interval: 7 * 86_400_000 };

export interface HarnessOptions {
  serverName?: string;
  /** server name → base URL of its receiver */
  overrides: Record<string, string>;
  instances?: string[];
  instanceName?: string;
  /** the backoff's jitter source */
  random?: () => number;
  clock?: ManualClock;
  requestTimeoutMs?: number;
  /** our signing key (receivers check requests against its public half) */
  key?: SigningKey;
  catchUpWakeIntervalMs?: number;
}

export class SenderHarness {
  readonly serverName: string;
  readonly clock: ManualClock;
  readonly key: SigningKey;
  readonly source: TableEventSource;
  readonly destinations: DestinationStore;
  readonly destinationRooms: DestinationRoomStore;
  readonly sentTransactions: SentTransactionStore;
  readonly outbox: DeviceOutboxStore;
  readonly positions: FederationPositionStore;
  readonly metrics = new FederationMetrics();
  backoff!: Backoff;
  httpClient!: MatrixFederationClient;
  sender!: FederationSender;
  private agent = new Agent();
  /** the backoff's jitter source; tests may swap it between failures */
  random: () => number;

  constructor(readonly db: Database, private readonly options: HarnessOptions) {
    this.serverName = options.serverName ?? "origin.test";
    this.clock = options.clock ?? new ManualClock();
    this.random = options.random ?? Math.random;
    this.key = options.key ?? generateSigningKey("t");
    this.source = new TableEventSource(db.prisma, this.serverName, this.key);
    this.destinations = new DestinationStore(db.prisma);
    this.destinationRooms = new DestinationRoomStore(db.prisma);
    this.sentTransactions = new SentTransactionStore(db.prisma);
    this.outbox = new DeviceOutboxStore(db.prisma);
    this.positions = new FederationPositionStore(db.prisma);
  }

  /** Builds and starts a sender (the process "starts"). */
  async start(): Promise<FederationSender> {
    const log = createLogger(process.env.TEST_LOG_LEVEL === "debug" ? "debug" : "error");
    const now = this.clock.now;
    this.backoff = new Backoff(this.destinations, BACKOFF, log, now, () => this.random());
    const discovery = new ServerDiscovery({ resolver: offlineDnsResolver, wellKnownDispatcher: this.agent, overrides: this.options.overrides, now });
    this.httpClient = new MatrixFederationClient({
      serverName: this.serverName, signingKey: this.key, discovery, ipFilter: new IpRangeFilter(), verifyCertificates: false,
      backoff: this.backoff, timeouts: { requestMs: this.options.requestTimeoutMs ?? 2000, connectMs: 1000 },
      sleep: () => Promise.resolve(), now,
    });
    this.sender = new FederationSender({
      serverName: this.serverName, instanceName: this.options.instanceName ?? "main",
      shardConfig: new FederationShardConfig(this.options.instances ?? ["main"]),
      events: this.source, transport: new TransportLayerClient(this.httpClient), httpClient: this.httpClient, discovery,
      backoff: this.backoff,
      stores: {
        destinations: this.destinations, destinationRooms: this.destinationRooms, sentTransactions: this.sentTransactions,
        outbox: this.outbox, positions: this.positions,
      },
      metrics: this.metrics, log, now, sleep: () => Promise.resolve(), maxWakeDelayMs: 0,
      catchUpWakeIntervalMs: this.options.catchUpWakeIntervalMs,
    });
    await this.sender.start();
    return this.sender;
  }

  /** Stops the sender as a process exit would (in-memory queues are lost), and starts a new one. */
  async restart(): Promise<FederationSender> {
    await this.stopSender();
    this.clock.advance(1);
    return this.start();
  }

  async stopSender(): Promise<void> {
    await this.sender.stop();
    await this.httpClient.close();
  }

  async close(): Promise<void> {
    await this.stopSender();
    await this.agent.close();
  }
}
