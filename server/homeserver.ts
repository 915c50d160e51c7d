/**
 * HomeServer: the composition root. Builds every component from the config and passes each its collaborators
 * through its constructor; nothing else in the engine reaches for globals.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import type { Config } from "./config";
import type { SigningKey } from "./crypto";
import { loadOrCreateAdminToken } from "./admin-token";
import { adminAuthenticator } from "./admin-rest/auth";
import { registerFederationAdminApi } from "./admin-rest/federation";
import { Backoff } from "./federation/backoff";
import { FederationRegistry } from "./federation/registry";
import { FederationSender, type SenderEventSource } from "./federation/sender";
import { FederationShardConfig } from "./federation/sender/sharding";
import { FederationServer } from "./federation/server";
import { TRANSACTION_RESPONSE_TTL_MS, TransactionActions } from "./federation/transaction-actions";
import type { TransportLayerClient } from "./federation/transport/client";
import type { ServerDiscovery, DnsResolver } from "./federation/transport/discovery";
import type { MatrixFederationClient } from "./federation/transport/http-client";
import { createOutboundFederation, type OutboundFederation } from "./federation/transport/outbound";
import { FederationRateLimiter } from "./federation/transport/rate-limiter";
import { TransportLayerServer } from "./federation/transport/server";
import { DeviceListHandler } from "./handlers/device-list";
import { DeviceMessageHandler } from "./handlers/device-message";
import { PresenceHandler } from "./handlers/presence";
import { ReceiptsHandler } from "./handlers/receipts";
import { TypingHandler } from "./handlers/typing";
import { Router, noAuth, type Logger } from "./http/router";
import { KeyServer } from "./keys/key-server";
import { Keyring, type KeyFetcher } from "./keys/keyring";
import { OwnKeys, loadOrCreateSigningKey } from "./keys/own-keys";
import { createLogger } from "./log";
import type { Replication } from "./replication";
import { setUpReplication, type ReplicationSetup } from "./replication/setup";
import { EventsStreamWriter } from "./replication/streams/events-writer";
import { EventsStreamStore } from "./store/events-stream-store";
import { ReplicatedEventSource } from "./federation/sender/replicated-event-source";
import { createRoomsEngine, type RoomsEngine } from "./rooms/rooms-engine";
import { FederationMetrics } from "./metrics";
import { openDatabase, type Database, type PrismaClient } from "./store/database";
import { DestinationRoomStore } from "./store/destination-room-store";
import { DestinationStore } from "./store/destination-store";
import { DeviceInboxStore } from "./store/device-inbox-store";
import { DeviceOutboxStore } from "./store/device-outbox-store";
import { FederationPositionStore } from "./store/federation-position-store";
import { DeviceStore } from "./store/device-store";
import { OpenBatches } from "./store/event-batch";
import { EventStore } from "./store/event-store";
import { InboundStore } from "./store/inbound-store";
import { PresenceStore } from "./store/presence-store";
import { ReceiptStore } from "./store/receipt-store";
import { RoomStore } from "./store/room-store";
import { SentTransactionStore } from "./store/sent-transaction-store";
import { ServerKeyStore } from "./store/server-key-store";
import { StagingStore } from "./store/staging-store";
import { StateStore } from "./store/state-store";
import { UserStore } from "./store/user-store";
import { SERVER_SOFTWARE, SERVER_VERSION } from "./version";

export type RootLogger = Logger & { child(component: string): Logger };

export interface HomeServerOptions {
  log?: RootLogger;
  now?: () => number;
  /** replaces the system DNS (tests) */
  dnsResolver?: DnsResolver;
  /** replaces the federation key fetcher (tests) */
  keyFetcher?: KeyFetcher;
  /** PEM CAs trusted for outbound federation instead of the system store (tests, private federations) */
  federationCaCertificates?: readonly string[];
  /** replaces the rooms engine as the source of the events the federation sender sends (tests, benchmarks) */
  senderEvents?: (context: { prisma: PrismaClient; serverName: string; signingKey: SigningKey }) => SenderEventSource;
}

export interface StartupReport {
  signingKeyCreated: boolean;
  adminTokenCreated: boolean;
  appliedMigrations: string[];
  databaseMs: number;
}

/** Inbound transactions whose responses are kept, and EDUs kept in the console's log. */
const PRUNE_INTERVAL_MS = 3600_000;
const KEEP_LOGGED_EDUS = 10_000;

export interface Stores {
  serverKeys: ServerKeyStore;
  destinations: DestinationStore;
  inbound: InboundStore;
  rooms: RoomStore;
  staging: StagingStore;
  presence: PresenceStore;
  receipts: ReceiptStore;
  devices: DeviceStore;
  deviceInbox: DeviceInboxStore;
  destinationRooms: DestinationRoomStore;
  sentTransactions: SentTransactionStore;
  deviceOutbox: DeviceOutboxStore;
  federationPositions: FederationPositionStore;
  users: UserStore;
  events: EventStore;
  state: StateStore;
}

export interface Components {
  config: Config;
  log: RootLogger;
  db: Database;
  stores: Stores;
  ownKeys: OwnKeys;
  keyring: Keyring;
  outbound: OutboundFederation;
  backoff: Backoff;
  sender: FederationSender;
  metrics: FederationMetrics;
  rooms: RoomsEngine;
  registry: FederationRegistry;
  typing: TypingHandler;
  transactions: TransactionActions;
  replication: ReplicationSetup;
  router: Router;
  adminToken: string;
  startup: StartupReport;
  now: () => number;
}

export class HomeServer {
  readonly startedAt: number;
  private stopped = false;
  private readonly timers: NodeJS.Timeout[] = [];

  private constructor(private readonly c: Components) {
    this.startedAt = c.now();
  }

  get config(): Config { return this.c.config; }
  get log(): RootLogger { return this.c.log; }
  get db(): Database { return this.c.db; }
  get stores(): Stores { return this.c.stores; }
  get ownKeys(): OwnKeys { return this.c.ownKeys; }
  get keyring(): Keyring { return this.c.keyring; }
  get discovery(): ServerDiscovery { return this.c.outbound.discovery; }
  get httpClient(): MatrixFederationClient { return this.c.outbound.httpClient; }
  get transportClient(): TransportLayerClient { return this.c.outbound.transportClient; }
  get backoff(): Backoff { return this.c.backoff; }
  get sender(): FederationSender { return this.c.sender; }
  get rooms(): RoomsEngine { return this.c.rooms; }
  get metrics(): FederationMetrics { return this.c.metrics; }
  get registry(): FederationRegistry { return this.c.registry; }
  get typing(): TypingHandler { return this.c.typing; }
  get transactions(): TransactionActions { return this.c.transactions; }
  get replication(): Replication { return this.c.replication.replication; }
  get replicationObservers(): ReplicationSetup["observers"] { return this.c.replication.observers; }
  get adminToken(): string { return this.c.adminToken; }
  get startup(): StartupReport { return this.c.startup; }
  get version(): string { return SERVER_VERSION; }

  static async create(config: Config, options: HomeServerOptions = {}): Promise<HomeServer> {
    const now = options.now ?? Date.now;
    const log = options.log ?? createLogger(config.log_level);
    const { key: signingKey, created: signingKeyCreated } = loadOrCreateSigningKey(config.signing_key_path);
    const { token: adminToken, created: adminTokenCreated } = loadOrCreateAdminToken(config.data_dir, config.admin.token);

    const dbStarted = Date.now();
    const db = await openDatabase(config.database.url);
    const databaseMs = Date.now() - dbStarted;
    if (db.appliedMigrations.length) log.info("database migrated", { applied: db.appliedMigrations.join(",") });
    const batches = new OpenBatches();
    const state = new StateStore(db.prisma, batches);
    const stores: Stores = {
      serverKeys: new ServerKeyStore(db.prisma),
      destinations: new DestinationStore(db.prisma),
      inbound: new InboundStore(db.prisma),
      rooms: new RoomStore(db.prisma),
      staging: new StagingStore(db.prisma),
      presence: new PresenceStore(db.prisma),
      receipts: new ReceiptStore(db.prisma),
      devices: new DeviceStore(db.prisma),
      deviceInbox: new DeviceInboxStore(db.prisma),
      destinationRooms: new DestinationRoomStore(db.prisma),
      sentTransactions: new SentTransactionStore(db.prisma),
      deviceOutbox: new DeviceOutboxStore(db.prisma),
      federationPositions: new FederationPositionStore(db.prisma),
      users: new UserStore(db.prisma),
      events: new EventStore(db.prisma, state, config.instance_name, batches),
      state,
    };

    // Outbound: discovery → IP-filtered connections → signed requests, aware of each destination's backoff.
    const backoff = new Backoff(stores.destinations, config.federation, log.child("backoff"), now);
    const outbound = createOutboundFederation(config, {
      signingKey, resolver: options.dnsResolver, backoff, caCertificates: options.federationCaCertificates, now,
    });
    const { httpClient, transportClient } = outbound;

    const oldKeys = Object.fromEntries(Object.entries(config.old_signing_keys).map(([id, k]) => [id, { key: k.key, expired_ts: k.expired_ts }]));
    const ownKeys = new OwnKeys(config.server_name, signingKey, oldKeys, config.key_refresh_interval, now);
    const keyring = new Keyring(ownKeys, stores.serverKeys, options.keyFetcher ?? transportClient, config.trusted_key_servers, now);
    backoff.onRemoteServerUp((destination) => {
      keyring.forgetFailure(destination);
      httpClient.wake(destination);
    });

    const router = new Router(log.child("http"));

    // Rooms: events and state (one EventPersister for local and federated events), local rooms and membership,
    // and the federation side of rooms.
    const rooms = createRoomsEngine({
      serverName: config.server_name, defaultRoomVersion: config.default_room_version, signingKey, keyring, transportClient,
      stores, remoteMediaDir: join(config.data_dir, "remote_media"), log, now,
    });

    // Replication: the in-process bus in embedded mode, Redis when scaled out; plus followed deployments. Only main
    // persists events, so only main writes the events stream; other processes follow it.
    const isMain = config.role === "main";
    const eventsWriter = new EventsStreamWriter(new EventsStreamStore(db.prisma));
    if (isMain) await eventsWriter.load();
    const replication = setUpReplication({ config, log: log.child("replication"), router, writers: isMain ? [eventsWriter] : [], now });
    if (isMain) {
      rooms.persister.onPersisted((event) => {
        eventsWriter.advance(event.streamOrdering);
        replication.replication.streamer.notify();
      });
    }

    // Outbound transactions: this process sends to the destinations it owns among federation_sender_instances.
    const metrics = new FederationMetrics();
    const sender = new FederationSender({
      serverName: config.server_name, instanceName: config.instance_name,
      shardConfig: new FederationShardConfig(config.federation_sender_instances),
      events: options.senderEvents?.({ prisma: db.prisma, serverName: config.server_name, signingKey })
        ?? (isMain ? rooms.eventSource : new ReplicatedEventSource(rooms.eventSource, replication.replication.dataHandler)),
      transport: transportClient, httpClient, discovery: outbound.discovery, backoff,
      stores: {
        destinations: stores.destinations, destinationRooms: stores.destinationRooms, sentTransactions: stores.sentTransactions,
        outbox: stores.deviceOutbox, positions: stores.federationPositions,
      },
      metrics, log: log.child("sender"), now, rrTransactionsPerRoomPerSecond: config.federation_rr_transactions_per_room_per_second,
      wakeOwner: (destination) => replication.replication.commandHandler.sendRemoteServerUp(destination),
    });

    // EDU handlers.
    const registry = new FederationRegistry(log.child("registry"));
    const typing = new TypingHandler(now);
    const devices = new DeviceListHandler(stores.devices);
    registry.registerEduHandler("m.typing", (origin, content) => typing.onEdu(origin, content));
    registry.registerEduHandler("m.presence", (origin, content) => new PresenceHandler(stores.presence, now).onEdu(origin, content));
    registry.registerEduHandler("m.receipt", (origin, content) => new ReceiptsHandler(stores.receipts, now).onEdu(origin, content));
    registry.registerEduHandler("m.device_list_update", (origin, content) => devices.onDeviceListUpdate(origin, content));
    registry.registerEduHandler("m.signing_key_update", (origin, content) => devices.onSigningKeyUpdate(origin, content));
    registry.registerEduHandler("m.direct_to_device", (origin, content) =>
      new DeviceMessageHandler(config.server_name, stores.deviceInbox, now).onEdu(origin, content));
    registry.registerQueryHandler("profile", (origin, args) => rooms.profiles.onProfileQuery(origin, args));
    registry.registerQueryHandler("directory", (origin, args) => rooms.directory.onDirectoryQuery(origin, args));

    // Inbound HTTP: keys, version, well-known, and the authenticated federation endpoints.
    new KeyServer(ownKeys, keyring, now).register(router);
    router.add("GET", "/_matrix/federation/v1/version", { authenticate: noAuth }, () => ({
      body: { server: { name: SERVER_SOFTWARE, version: SERVER_VERSION } },
    }));
    if (config.serve_server_wellknown) {
      const base = new URL(config.public_baseurl);
      const delegated = `${base.hostname}:${base.port || (base.protocol === "https:" ? 443 : 80)}`;
      router.add("GET", "/.well-known/matrix/server", { authenticate: noAuth }, () => ({
        body: { "m.server": delegated },
        headers: { "Cache-Control": "max-age=86400", "Access-Control-Allow-Origin": "*" },
      }));
    }
    const transactions = new TransactionActions(stores.inbound, log.child("federation"), now);
    const transportServer = new TransportLayerServer({
      serverName: config.server_name, router, keyring, rateLimiter: new FederationRateLimiter(config.rc_federation, now), now,
      onVerifiedOrigin: (origin) => void backoff.markUp(origin),
    });
    new FederationServer({
      keyring, rooms: stores.rooms, staging: stores.staging, registry, transactions, log: log.child("federation"), metrics, now,
      serverName: config.server_name, events: stores.events, state: stores.state, stateHandler: rooms.stateHandler,
      federationHandler: rooms.federationHandler, summaries: rooms.summaries, roomList: rooms.roomList, e2eKeys: rooms.e2eKeys,
      onStaged: (roomId) => rooms.stagingWorkers.wake(roomId),
    }).register(transportServer);

    // Operators: Synapse's federation admin API and Prometheus metrics, behind the admin token.
    const adminAuth = adminAuthenticator(adminToken, now);
    registerFederationAdminApi(router, { destinations: stores.destinations, destinationRooms: stores.destinationRooms, sender, authenticate: adminAuth });
    metrics.register(router, adminAuth);

    // A server that is up again (a success, a verified request, an operator's retry) is announced to the other
    // processes, so its owner wakes the queue; announcements from others only refresh and wake, never re-announce.
    backoff.onRemoteServerUp((destination) => replication.replication.commandHandler.sendRemoteServerUp(destination));
    replication.replication.dataHandler.onRemoteServerUp((destination) => {
      backoff.invalidate(destination);
      keyring.forgetFailure(destination);
      httpClient.wake(destination);
      sender.wakeDestination(destination);
    });
    await replication.start();

    const hs = new HomeServer({
      config, log, db, stores, ownKeys, keyring, outbound, backoff, sender, metrics, rooms, registry, typing, transactions, router, replication,
      adminToken, startup: { signingKeyCreated, adminTokenCreated, appliedMigrations: db.appliedMigrations, databaseMs }, now,
    });
    hs.startHousekeeping();
    if (isMain) await rooms.stagingWorkers.start();
    if (config.federation_sender_instances.includes(config.instance_name)) await sender.start();
    return hs;
  }

  private startHousekeeping(): void {
    const prune = () => {
      this.c.stores.inbound.prune(this.c.now() - TRANSACTION_RESPONSE_TTL_MS, KEEP_LOGGED_EDUS)
        .catch((e: Error) => this.c.log.warn("pruning the inbound log failed", { error: e.message }));
    };
    const timer = setInterval(prune, PRUNE_INTERVAL_MS);
    timer.unref();
    this.timers.push(timer);

    // Federation senders store how far they processed the events stream; no replication command carries it, so
    // the console's process reads it from the database each second to show each sender's lag.
    const { config, stores } = this.c;
    const positions = this.c.replication.replication.positions;
    const trackSenders = () => {
      for (const instance of config.federation_sender_instances) {
        stores.federationPositions.get("events", instance)
          .then((token) => token !== null && positions.recordConsumer("events", "main", `${instance}/federation_sender`, token))
          .catch((e: Error) => this.c.log.debug("cannot read a sender's position", { instance, error: e.message }));
      }
    };
    const senders = setInterval(trackSenders, 1000);
    senders.unref();
    this.timers.push(senders);
  }

  /** True for the paths the engine answers itself: /_matrix/*, /_synapse/*, /.well-known/matrix/*, /metrics. */
  handles(path: string): boolean {
    return path.startsWith("/_matrix/") || path.startsWith("/_synapse/") || path.startsWith("/.well-known/matrix/") || path === "/metrics";
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return this.c.router.handle(req, res);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    await this.c.rooms.stagingWorkers.stop();
    await this.c.sender.stop();
    await this.c.replication.stop();
    await this.c.transactions.flush();
    await this.c.outbound.close();
    // what the transactions that were in flight acknowledged
    await this.c.sender.flush();
    await this.c.db.close();
  }
}
