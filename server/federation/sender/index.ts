/**
 * FederationSender (Synapse's federation/sender/__init__.py): turns new events and EDUs into per-destination work.
 * Each event persisted on the events stream that this server sent goes to the servers in its room at that event,
 * after `destination_rooms` records it (the basis of catch-up); where the sender got to in the stream is stored, so
 * a restart reads again only what it had not handled. EDUs go to the servers that should get them; receipts in
 * large rooms and presence are paced. Destinations owned by another sender instance, and this server, are skipped.
 * The operator's retry, reset and discovery-cache operations live here too.
 */
import { setTimeout as sleepFor } from "node:timers/promises";
import type { JsonObject } from "../../crypto";
import type { Logger } from "../../http/router";
import type { FederationMetrics } from "../../metrics";
import { BatchWriter } from "../../store/batch-writer";
import type { DestinationRoomEntry, DestinationRoomStore } from "../../store/destination-room-store";
import type { DestinationListFilter, DestinationListQuery, DestinationStore, LiveDestination } from "../../store/destination-store";
import type { DeviceOutboxStore } from "../../store/device-outbox-store";
import type { FederationPositionStore } from "../../store/federation-position-store";
import type { SentTransactionRow, SentTransactionStore } from "../../store/sent-transaction-store";
import { Semaphore } from "../../util/semaphore";
import type { Backoff } from "../backoff";
import type { TransportLayerClient } from "../transport/client";
import type { ServerDiscovery } from "../transport/discovery";
import type { MatrixFederationClient } from "../transport/http-client";
import { CATCHUP_RETRY_INTERVAL_MS, PerDestinationQueue, type QueueContext, type QueueSnapshot } from "./destination-queue";
import { DESTINATION_STATES, describeDestination, type DestinationState, type DestinationStatus } from "./destination-status";
import type { FederationShardConfig } from "./sharding";
import { TransactionManager } from "./transaction-manager";
import type { Edu, PersistedEvent, PresenceState, ReadReceipt, SenderEventSource } from "./types";
import { DestinationWakeupQueue } from "./wakeup-queue";

export type { PersistedEvent, SenderEventSource } from "./types";

/** Synapse's WAKEUP_RETRY_PERIOD_SEC: how often destinations with outstanding catch-up are woken. */
export const CATCH_UP_WAKE_INTERVAL_MS = 60_000;
/** Synapse's WAKEUP_INTERVAL_BETWEEN_DESTINATIONS_SEC: the longest pause between two woken destinations. */
export const MAX_WAKE_DELAY_MS = 5_000;
/**
 * At most this many destinations catch up at once. With the pause between wake-ups shrinking so that one round
 * takes about CATCH_UP_WAKE_INTERVAL_MS, 10,000 outstanding destinations are all started within minutes (Synapse
 * would take 14 hours at 5 s each) while no more than this many send catch-up transactions at the same time.
 */
export const MAX_CONCURRENT_CATCH_UPS = 20;
/** Synapse's federation_rr_transactions_per_room_per_second default. */
export const DEFAULT_RR_TRANSACTIONS_PER_ROOM_PER_SECOND = 50;
/** Synapse's _process_event_queue_loop batch size. */
const EVENTS_PER_BATCH = 100;
/** Rooms with fewer servers get receipts at once (Synapse). */
const SMALL_ROOM_SERVERS = 10;
/** Receipts for events newer than this go out at once (Synapse). */
const RECENT_RECEIPT_EVENT_MS = 60_000;
/** Transactions kept per destination in the log. */
export const SENT_TRANSACTIONS_KEPT = 100;
const PRUNE_INTERVAL_MS = 10 * 60_000;

export interface FederationSenderStores {
  destinations: DestinationStore;
  destinationRooms: DestinationRoomStore;
  sentTransactions: SentTransactionStore;
  outbox: DeviceOutboxStore;
  positions: FederationPositionStore;
}

export interface FederationSenderOptions {
  serverName: string;
  instanceName: string;
  shardConfig: FederationShardConfig;
  /** the rooms engine: new events, their PDUs and who is in each room */
  events: SenderEventSource;
  transport: Pick<TransportLayerClient, "sendTransaction">;
  httpClient: Pick<MatrixFederationClient, "wake" | "lastError" | "destinationsWithErrors">;
  discovery: Pick<ServerDiscovery, "clearCache">;
  backoff: Backoff;
  stores: FederationSenderStores;
  metrics: FederationMetrics;
  log: Logger;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * Asks the process that owns `destination` to wake its queue (REMOTE_SERVER_UP over replication): an operator's
   * retry of a destination another sender instance owns, when clearing its timings announced nothing.
   */
  wakeOwner?: (destination: string) => void;
  /** Synapse's federation_rr_transactions_per_room_per_second */
  rrTransactionsPerRoomPerSecond?: number;
  catchUpWakeIntervalMs?: number;
  maxWakeDelayMs?: number;
  maxConcurrentCatchUps?: number;
}

export type ResetResult = "reset" | "unknown" | "not_failing";

export interface RetryManyResult {
  /** how many were asked for */
  destinations: number;
  /** how many had retry timings, now cleared */
  wasBackingOff: number;
  /** how many queues (on this process) were started */
  woken: number;
}

/** A page of the console's listing; the state order of a sort by state is the sender's (most urgent first). */
export type DestinationListRequest = Omit<DestinationListQuery, "stateOrder" | "state"> & { state?: DestinationState };

export interface RetryNowResult {
  destination: string;
  owner: string;
  /** its retry timings were cleared */
  wasBackingOff: boolean;
  /** its queue (on this process) was started */
  woken: boolean;
}

export class FederationSender {
  private readonly queues = new Map<string, PerDestinationQueue>();
  private readonly transactions: TransactionManager;
  private readonly wakeupQueue: DestinationWakeupQueue;
  private readonly catchUpSlots: Semaphore;
  private readonly sentLog: BatchWriter<SentTransactionRow>;
  private readonly lastSuccessfulWriter: BatchWriter<[string, number]>;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly stopController = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private started = false;
  private queueContext: QueueContext | undefined;
  /** events-stream position handled so far, and the newest one we were told of */
  private position = 0;
  private lastPokedId = 0;
  private processingEvents = false;
  private wakingCatchUp = false;
  private eventLoopDone: Promise<void> = Promise.resolve();

  constructor(private readonly o: FederationSenderOptions) {
    this.now = o.now ?? Date.now;
    const signal = this.stopController.signal;
    this.sleep = o.sleep ?? ((ms) => sleepFor(ms, undefined, { signal }).catch(() => undefined));
    this.catchUpSlots = new Semaphore(o.maxConcurrentCatchUps ?? MAX_CONCURRENT_CATCH_UPS);
    this.sentLog = new BatchWriter({
      write: (rows) => o.stores.sentTransactions.record(rows),
      onError: (e, n) => o.log.warn("cannot record sent transactions", { rows: n, error: e.message }),
      maxDelayMs: 200,
    });
    // Positions are a lower bound: written late (batched), catch-up at worst sends again what was delivered.
    this.lastSuccessfulWriter = new BatchWriter({
      write: (rows) => o.stores.destinations.setLastSuccessfulStreamOrderings(latestPerDestination(rows)),
      onError: (e, n) => o.log.warn("cannot record delivered positions", { rows: n, error: e.message }),
      maxDelayMs: 200,
    });
    this.transactions = new TransactionManager({
      serverName: o.serverName, instanceName: o.instanceName, transport: o.transport, metrics: o.metrics,
      recordSent: (row) => this.sentLog.add(row), log: o.log, now: this.now,
    });
    const rrPerSecond = o.rrTransactionsPerRoomPerSecond ?? DEFAULT_RR_TRANSACTIONS_PER_ROOM_PER_SECOND;
    this.wakeupQueue = new DestinationWakeupQueue((d) => this.getQueue(d), 1000 / rrPerSecond, this.sleep, () => this.stopped);
    o.metrics.observeQueues(() => {
      let pendingDestinations = 0, pendingPdus = 0, pendingEdus = 0;
      for (const q of this.queues.values()) {
        if (q.isRunning) pendingDestinations++;
        pendingPdus += q.pendingPduCount();
        pendingEdus += q.pendingEduCount();
      }
      return { pendingDestinations, pendingPdus, pendingEdus };
    });
  }

  private get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  /** The events-stream position handled so far (Synapse's federation_stream_position for "events"). */
  get streamPosition(): number {
    return this.position;
  }

  /**
   * Starts sending: reads where the last run got to, handles the events since, follows new ones, and wakes
   * destinations with outstanding catch-up now and every minute.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error("the federation sender is already started");
    this.started = true;
    this.position = (await this.o.stores.positions.get("events", this.o.instanceName)) ?? 0;
    this.lastPokedId = this.position;
    const [owed, outbox] = await Promise.all([
      this.o.stores.destinationRooms.getDestinationsBehind(this.position), this.o.stores.outbox.destinationsWithPending(),
    ]);
    const owedAtStart = new Set(owed);
    const outboxAtStart = new Set(outbox);
    this.queueContext = {
      serverName: this.o.serverName,
      transactions: this.transactions,
      backoff: this.o.backoff,
      destinations: this.o.stores.destinations,
      destinationRooms: this.o.stores.destinationRooms,
      outbox: this.o.stores.outbox,
      events: this.o.events,
      recordLastSuccessful: (destination, streamOrdering) => this.lastSuccessfulWriter.add([destination, streamOrdering]),
      catchUpSlots: this.catchUpSlots,
      startPosition: this.position,
      owedAtStart: (destination) => owedAtStart.has(destination),
      outboxMayHaveRows: (destination) => outboxAtStart.has(destination),
      isStopped: () => this.stopped,
      log: this.o.log,
      now: this.now,
    };
    this.o.backoff.onRemoteServerUp((destination) => this.wakeDestination(destination));
    this.o.events.onPersisted((event) => this.notifyNewEvents(event.streamOrdering));
    this.notifyNewEvents(this.position);
    const wake = () => void this.wakeDestinationsNeedingCatchUp();
    const prune = () => void this.o.stores.sentTransactions.prune(SENT_TRANSACTIONS_KEPT)
      .catch((e: Error) => this.o.log.warn("pruning the sent transaction log failed", { error: e.message }));
    this.timers.push(setInterval(wake, this.o.catchUpWakeIntervalMs ?? CATCH_UP_WAKE_INTERVAL_MS), setInterval(prune, PRUNE_INTERVAL_MS));
    for (const timer of this.timers) timer.unref();
    wake();
  }

  /** Stops starting work and writes out what is batched; transactions in flight end with the HTTP client. */
  async stop(): Promise<void> {
    this.stopController.abort();
    for (const timer of this.timers) clearInterval(timer);
    await this.eventLoopDone;
    await Promise.all([this.sentLog.flush(), this.lastSuccessfulWriter.flush()]);
  }

  /** Writes out the batched transaction log and delivered positions now (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([this.sentLog.flush(), this.lastSuccessfulWriter.flush()]);
  }

  ownerOf(destination: string): string {
    return this.o.shardConfig.ownerOf(destination);
  }

  /** Whether this process sends to `destination` (it is not us, and we own it). */
  handles(destination: string): boolean {
    return destination !== this.o.serverName && this.o.shardConfig.shouldHandle(this.o.instanceName, destination);
  }

  // ---- PDUs -------------------------------------------------------------------------------------------------

  /** New events up to `streamOrdering` were persisted (Synapse's notify_new_events). */
  notifyNewEvents(streamOrdering: number): void {
    this.lastPokedId = Math.max(this.lastPokedId, streamOrdering);
    if (this.processingEvents || this.stopped || !this.started) return;
    this.processingEvents = true;
    this.eventLoopDone = this.processEventQueue(this.o.events);
  }

  /** Synapse's _process_event_queue_loop: reads events after our position in batches and hands them out. */
  private async processEventQueue(events: SenderEventSource): Promise<void> {
    try {
      while (!this.stopped) {
        const pokedBefore = this.lastPokedId;
        const batch = await events.getEventsSince(this.position, EVENTS_PER_BATCH);
        if (batch.length === 0) {
          // a notification that came while we read may be for an event our read could not see yet
          if (this.lastPokedId > pokedBefore) continue;
          break;
        }
        await this.handleEvents(events, batch);
        this.position = batch.at(-1)!.streamOrdering;
        await this.o.stores.positions.set("events", this.o.instanceName, this.position);
      }
    } catch (e) {
      this.o.log.error("processing new events for federation failed", { position: this.position, error: (e as Error).stack ?? String(e) });
    } finally {
      // reset here, not in a .finally() callback, so no notification can fall between the last read and the reset
      this.processingEvents = false;
    }
  }

  /**
   * One batch, in stream order: works out each event's destinations, records them in destination_rooms (one
   * write for the batch, before any queue sees the events, so a restart can always catch up), then queues them.
   */
  private async handleEvents(events: SenderEventSource, batch: readonly PersistedEvent[]): Promise<void> {
    const outgoing = batch.filter((e) => !e.outlier && !e.rejected && !e.softFailed && (this.isMine(e.sender) || !!e.sendOnBehalfOf));
    if (outgoing.length === 0) return;
    const hosts = await Promise.all(outgoing.map((e) => events.joinedHostsAtEvent(e.eventId).catch((err: Error) => {
      this.o.log.error("cannot work out the servers in the room at an event", { event_id: e.eventId, error: err.message });
      return [] as string[];
    })));
    const destinationsByEvent = outgoing.map((e, i) => {
      const set = new Set(hosts[i]!.filter((d) => this.handles(d)));
      // a relayed membership event: its server has it already
      if (e.sendOnBehalfOf) set.delete(e.sendOnBehalfOf);
      return [...set];
    });
    const sending = outgoing.filter((_, i) => destinationsByEvent[i]!.length > 0);
    if (sending.length === 0) return;
    const pdus = await events.getPdus(sending.map((e) => e.eventId));

    const newest = new Map<string, DestinationRoomEntry>();
    outgoing.forEach((e, i) => {
      for (const destination of destinationsByEvent[i]!) newest.set(`${destination}\u0000${e.roomId}`, { destination, roomId: e.roomId, streamOrdering: e.streamOrdering });
    });
    await this.o.stores.destinationRooms.storeEntries([...newest.values()]);

    // Servers backing off for longer than the catch-up threshold get no in-memory PDUs (catch-up covers them).
    const dueSoon = new Set(await this.filterRetryDue([...new Set(destinationsByEvent.flat())]));

    outgoing.forEach((e, i) => {
      const destinations = destinationsByEvent[i]!;
      const pdu = pdus.get(e.eventId);
      if (destinations.length === 0) return;
      if (!pdu) {
        this.o.log.warn("event to send is missing from the store; catch-up will send its room's newest events", { event_id: e.eventId });
        return;
      }
      this.o.metrics.sentPduDestinationsCount.inc();
      this.o.metrics.sentPduDestinations.inc(destinations.length);
      const queued = { eventId: e.eventId, roomId: e.roomId, streamOrdering: e.streamOrdering, pdu };
      for (const destination of destinations) {
        const queue = this.getQueue(destination)!;
        if (dueSoon.has(destination)) queue.sendPdu(queued);
        else queue.notePduSkipped(e.streamOrdering);
      }
    });
  }

  // ---- EDUs -------------------------------------------------------------------------------------------------

  /**
   * Synapse's build_and_send_edu: queues an EDU for one destination. A `key` makes it replace a queued EDU of the
   * same type and key (typing).
   */
  buildAndSendEdu(destination: string, eduType: string, content: JsonObject, key?: string): void {
    if (!this.handles(destination)) return;
    const queue = this.getQueue(destination);
    if (!queue) return;
    const edu: Edu = { edu_type: eduType, content };
    if (key !== undefined) queue.sendKeyedEdu(edu, key);
    else queue.sendEdu(edu);
  }

  /** A local user's typing state, to the other servers in the room (a keyed EDU per room and user). */
  async sendTyping(roomId: string, userId: string, typing: boolean): Promise<void> {
    const hosts = await this.o.events.currentHostsInRoom(roomId);
    for (const destination of hosts) {
      this.buildAndSendEdu(destination, "m.typing", { room_id: roomId, user_id: userId, typing }, JSON.stringify([roomId, userId]));
    }
  }

  /**
   * Synapse's send_read_receipt: to the servers in the room. Small rooms, receipts for recent events and the
   * event sender's server get it at once; in large rooms the rest is queued and woken gradually, since receipts
   * scale with the square of a room's size.
   */
  async sendReadReceipt(receipt: ReadReceipt): Promise<void> {
    const events = this.o.events;
    const candidates = (await events.currentHostsInRoom(receipt.roomId)).filter((d) => this.handles(d));
    const domains = await this.filterRetryDue(candidates);
    if (domains.length === 0) return;
    let immediate = domains;
    let delayed: string[] = [];
    if (domains.length >= SMALL_ROOM_SERVERS) {
      const meta = receipt.eventIds[0] === undefined ? null : await events.eventMetadata(receipt.eventIds[0]);
      if (!meta || this.now() - meta.receivedTs >= RECENT_RECEIPT_EVENT_MS) {
        const senderDomain = meta ? serverOf(meta.sender) : null;
        immediate = domains.filter((d) => d === senderDomain);
        delayed = domains.filter((d) => d !== senderDomain);
      }
    }
    for (const domain of immediate) {
      const queue = this.getQueue(domain);
      if (!queue) continue;
      queue.queueReadReceipt(receipt);
      queue.attemptNewTransaction();
    }
    for (const domain of delayed) {
      this.getQueue(domain)?.queueReadReceipt(receipt);
      this.wakeupQueue.add(domain);
    }
  }

  /** Synapse's send_presence_to_destinations: local users' presence, woken gradually. */
  async sendPresenceToDestinations(states: readonly PresenceState[], destinations: readonly string[]): Promise<void> {
    if (states.length === 0) return;
    const notMine = states.find((s) => !this.isMine(s.user_id));
    if (notMine) throw new Error(`presence of ${notMine.user_id} is not ours to send`);
    for (const destination of await this.filterRetryDue(destinations.filter((d) => this.handles(d)))) {
      this.getQueue(destination)?.sendPresence(states, false);
      this.wakeupQueue.add(destination);
    }
  }

  /**
   * Synapse's send_device_messages: the outbox tables have new to-device messages or device-list updates for these
   * destinations. `immediate` sends now; otherwise they are woken gradually.
   */
  async sendDeviceMessages(destinations: readonly string[], immediate = true): Promise<void> {
    for (const destination of await this.filterRetryDue(destinations.filter((d) => this.handles(d)))) {
      const queue = this.getQueue(destination);
      if (!queue) continue;
      queue.noteOutboxRows();
      if (immediate) queue.attemptNewTransaction();
      else this.wakeupQueue.add(destination);
    }
  }

  /** Synapse's wake_destination: try sending now (e.g. the server came back). False when not ours to send to. */
  wakeDestination(destination: string): boolean {
    if (!this.handles(destination) || !this.started) return false;
    this.getQueue(destination)?.attemptNewTransaction();
    return true;
  }

  // ---- operator -----------------------------------------------------------------------------------------------

  /**
   * "Retry now": clears the destination's retry timings if it was backing off, cuts short any retry sleep, and
   * starts its queue, also when it was not failing but has work waiting.
   */
  async retryNow(destination: string): Promise<RetryNowResult> {
    const r = await this.retryMany([destination]);
    return { destination, owner: this.ownerOf(destination), wasBackingOff: r.wasBackingOff > 0, woken: r.woken > 0 };
  }

  /** "Retry now" for many destinations (the console's bulk retry): one write clears the timings of the failing ones. */
  async retryMany(destinations: readonly string[]): Promise<RetryManyResult> {
    // resetMany() announces the failing ones as up, which wakes their queues where they are owned
    const cleared = new Set(await this.o.backoff.resetMany(destinations));
    let woken = 0;
    for (const destination of destinations) {
      this.o.httpClient.wake(destination);
      // look at the outbox again too, in case a notification of new rows was lost
      this.getQueue(destination)?.noteOutboxRows();
      if (this.wakeDestination(destination)) woken++;
      // a stuck destination that was not failing was announced by nobody: its owner must still hear of the retry
      else if (!cleared.has(destination) && destination !== this.o.serverName) this.o.wakeOwner?.(destination);
    }
    return { destinations: destinations.length, wasBackingOff: cleared.size, woken };
  }

  /**
   * Synapse's reset_connection: "unknown" for a destination we never federated with, "not_failing" when there is
   * no retry timing to reset; otherwise clears it and announces the server as up (which wakes its queue).
   */
  async reset(destination: string): Promise<ResetResult> {
    const row = await this.o.stores.destinations.getDestination(destination);
    if (!row) return "unknown";
    if (!row.retryLastTs) return "not_failing";
    await this.o.backoff.reset(destination);
    return "reset";
  }

  /** Forgets the destination's cached .well-known and SRV answers, so the next request resolves it afresh. */
  clearDiscoveryCache(destination: string): void {
    this.o.discovery.clearCache(destination);
  }

  /** The live queue of one destination, or null when it has none on this process. */
  queueState(destination: string): QueueSnapshot | null {
    return this.queues.get(destination)?.snapshot() ?? null;
  }

  /** Live queues of this process. */
  queueStates(): QueueSnapshot[] {
    return [...this.queues.values()].map((q) => q.snapshot());
  }

  /**
   * One page of the console's listing (search, state filter, sort, offset) and how many destinations match in
   * each state. PostgreSQL pages the stored rows; this process's live queues and transport errors take the place
   * of their rows (see DestinationStore.listPage), so sorting by queue depth or last error covers every destination.
   */
  async listDestinations(q: DestinationListRequest): Promise<{ destinations: DestinationStatus[]; counts: Record<DestinationState, number>; total: number }> {
    const live = await this.liveStatuses();
    const { rows, counts } = await this.o.stores.destinations.listPage({ ...q, stateOrder: STATES_BY_URGENCY }, [...live.values()].map(liveFigures));
    const now = this.now();
    const destinations = rows.map((row) => {
      const status = live.get(row.destination);
      // not live when listed: described as the SQL saw it, so the page agrees with the counts
      return status ? { ...status, room_count: row.roomCount } : describeDestination(row, null, undefined, this.ownerOf(row.destination), now);
    });
    const byState = Object.fromEntries(DESTINATION_STATES.map((s) => [s, counts.get(s) ?? 0])) as Record<DestinationState, number>;
    const total = q.state === undefined ? DESTINATION_STATES.reduce((n, s) => n + byState[s], 0) : byState[q.state];
    return { destinations, counts: byState, total };
  }

  /** Every destination matching the filter, by name (bulk retry of a filter). */
  async destinationNames(filter: DestinationListFilter): Promise<string[]> {
    const live = await this.liveStatuses();
    return this.o.stores.destinations.listNames(filter, [...live.values()].map(liveFigures));
  }

  /** One destination's state, or null when it is neither stored nor queued. */
  async destinationStatus(destination: string): Promise<DestinationStatus | null> {
    const [row] = await this.o.stores.destinations.overviewRows([destination]);
    if (!row && !this.queues.has(destination)) return null;
    return this.describe(row ?? { ...EMPTY_ROW, destination }, this.now());
  }

  /** Destinations this process knows more of than their rows: those with a queue here or a failed request. */
  private async liveStatuses(): Promise<Map<string, DestinationStatus>> {
    const names = [...new Set([...this.queues.keys(), ...this.o.httpClient.destinationsWithErrors()])];
    if (names.length === 0) return new Map();
    const rows = new Map((await this.o.stores.destinations.overviewRows(names, { withRoomCounts: false })).map((r) => [r.destination, r]));
    const now = this.now();
    return new Map(names.map((d) => [d, this.describe(rows.get(d) ?? { ...EMPTY_ROW, destination: d }, now)]));
  }

  private describe(row: Parameters<typeof describeDestination>[0], now: number): DestinationStatus {
    return describeDestination(row, this.queueState(row.destination), this.o.httpClient.lastError(row.destination), this.ownerOf(row.destination), now);
  }

  // ---- internals ----------------------------------------------------------------------------------------------

  private getQueue(destination: string): PerDestinationQueue | null {
    if (!this.queueContext || !this.handles(destination)) return null;
    let queue = this.queues.get(destination);
    if (!queue) {
      queue = new PerDestinationQueue(destination, this.queueContext);
      this.queues.set(destination, queue);
    }
    return queue;
  }

  private isMine(userOrServerId: string): boolean {
    return serverOf(userOrServerId) === this.o.serverName;
  }

  private async filterRetryDue(destinations: readonly string[]): Promise<string[]> {
    const due = await Promise.all(destinations.map((d) => this.o.backoff.retryDueWithin(d, CATCHUP_RETRY_INTERVAL_MS)));
    return destinations.filter((_, i) => due[i]);
  }

  /**
   * Synapse's _wake_destinations_needing_catchup, paced: queues holding work whose backoff may have passed are
   * started, then every destination with outstanding catch-up, 25 at a time, with a pause between two that
   * spreads one round over about a minute (at most 5 s, as Synapse), never two rounds at once.
   */
  private async wakeDestinationsNeedingCatchUp(): Promise<void> {
    if (this.wakingCatchUp || this.stopped) return;
    this.wakingCatchUp = true;
    try {
      for (const queue of this.queues.values()) if (queue.hasPendingWork()) queue.attemptNewTransaction();
      const rooms = this.o.stores.destinationRooms;
      const total = await rooms.countOutstandingDestinations(this.now());
      const round = this.o.catchUpWakeIntervalMs ?? CATCH_UP_WAKE_INTERVAL_MS;
      const delay = Math.min(this.o.maxWakeDelayMs ?? MAX_WAKE_DELAY_MS, round / Math.max(total, 1));
      let after: string | null = null;
      while (!this.stopped) {
        const batch = await rooms.getOutstandingDestinations(after, this.now());
        if (batch.length === 0) break;
        after = batch.at(-1)!;
        for (const destination of batch) {
          if (!this.handles(destination)) continue;
          this.o.log.debug("destination has outstanding work, waking it", { destination });
          // it may be here for outbox rows whose announcement this process never got
          this.getQueue(destination)?.noteOutboxRows();
          this.wakeDestination(destination);
          if (delay > 0) await this.sleep(delay);
        }
      }
    } catch (e) {
      this.o.log.warn("waking destinations that need catch-up failed", { error: (e as Error).message });
    } finally {
      this.wakingCatchUp = false;
    }
  }
}

/** Sorting by state puts the destinations that need an operator first. */
const STATES_BY_URGENCY: readonly DestinationState[] = ["stuck", "backing_off", "catching_up", "never_contacted", "healthy"];

function liveFigures(s: DestinationStatus): LiveDestination {
  return {
    destination: s.destination, state: s.state, pendingPdus: s.pending_pdus, pendingEdus: s.pending_edus,
    inFlightSince: s.in_flight?.started_at ?? null, lastSuccessTs: s.last_success_ts, lastErrorTs: s.last_error?.at ?? null,
  };
}

const EMPTY_ROW = {
  destination: "", retryLastTs: 0, retryInterval: 0, failureTs: null, lastSuccessfulStreamOrdering: null, roomCount: 0, newestRoomStreamOrdering: null,
};

/** The server name part of a user ID (or a server name itself). */
function serverOf(id: string): string {
  const colon = id.indexOf(":");
  return colon < 0 ? id : id.slice(colon + 1);
}

function latestPerDestination(rows: readonly [string, number][]): Map<string, number> {
  const latest = new Map<string, number>();
  for (const [destination, streamOrdering] of rows) latest.set(destination, Math.max(latest.get(destination) ?? streamOrdering, streamOrdering));
  return latest;
}
