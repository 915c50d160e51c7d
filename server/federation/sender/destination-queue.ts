/**
 * PerDestinationQueue (Synapse's federation/sender/per_destination_queue.py): everything waiting for one remote
 * server, and the loop that sends it. One transaction is in flight at a time, with at most 50 PDUs and 100 EDUs,
 * EDUs filled in Synapse's priority order. PDUs leave the queue only after a 2xx, and a transaction that failed is
 * sent again as it was, with the same txnId. The queue starts in catch-up mode and enters it again when the
 * destination's backoff grows past an hour; catch-up sends each room's newest events from the database.
 */
import type { JsonObject } from "../../crypto";
import type { Logger } from "../../http/router";
import type { DestinationRoomStore } from "../../store/destination-room-store";
import type { DestinationStore } from "../../store/destination-store";
import type { DeviceOutboxStore, OutboxBatch } from "../../store/device-outbox-store";
import type { Semaphore } from "../../util/semaphore";
import type { Backoff, Readiness } from "../backoff";
import { FederationRequestError, type FederationErrorSummary } from "../transport/errors";
import type { OutgoingPdu, PendingTransaction, TransactionManager } from "./transaction-manager";
import type { Edu, PresenceState, ReadReceipt, SenderEventSource } from "./types";

/** Spec limits, enforced by receivers. */
export const MAX_PDUS_PER_TRANSACTION = 50;
export const MAX_EDUS_PER_TRANSACTION = 100;
/** Synapse's CATCHUP_RETRY_INTERVAL: a backoff longer than this drops in-memory work for catch-up. */
export const CATCHUP_RETRY_INTERVAL_MS = 60 * 60 * 1000;
/** Synapse's MAX_PRESENCE_STATES_PER_EDU. */
export const MAX_PRESENCE_STATES_PER_EDU = 50;
/** Receipt EDUs per transaction, and slots kept free of to-device messages for device-list updates (Synapse). */
const MAX_RECEIPT_EDUS_PER_TRANSACTION = 5;
const DEVICE_LIST_RESERVED_SLOTS = 10;

/** A PDU waiting for a destination: the JSON is shared by every queue it was given to. */
export interface QueuedPdu {
  eventId: string;
  roomId: string;
  streamOrdering: number;
  pdu: JsonObject;
}

/** room ID → receipt type → user ID → {event_ids, data}: the content of one m.receipt EDU. */
type ReceiptEduContent = Record<string, Record<string, Record<string, { event_ids: string[]; data: JsonObject }>>>;

/** What every queue shares: built once by the FederationSender. */
export interface QueueContext {
  serverName: string;
  transactions: TransactionManager;
  backoff: Pick<Backoff, "readiness">;
  destinations: Pick<DestinationStore, "getLastSuccessfulStreamOrdering">;
  destinationRooms: Pick<DestinationRoomStore, "getCatchUpRoomEvents">;
  outbox: Pick<DeviceOutboxStore, "getNewDeviceMessagesForRemote" | "deleteDeviceMessagesForRemote" | "getDeviceUpdatesByRemote" | "markAsSentDevicesByRemote">;
  events: Pick<SenderEventSource, "getPdus" | "forwardExtremities" | "joinedHostsAtEvent">;
  /** persists (batched) how far a destination acknowledged PDUs */
  recordLastSuccessful(destination: string, streamOrdering: number): void;
  /** bounds how many destinations catch up at once */
  catchUpSlots: Semaphore;
  /**
   * The events-stream position this process started from. PDUs after it were queued in memory by this process;
   * the start-up catch-up only has to cover those up to it, which an earlier process may have lost.
   */
  startPosition: number;
  /** whether the destination was owed PDUs up to startPosition when we started (read once for all queues) */
  owedAtStart(destination: string): boolean;
  /** whether the outbox tables may hold rows for it (read once at start; new rows are announced) */
  outboxMayHaveRows(destination: string): boolean;
  isStopped(): boolean;
  log: Logger;
  now: () => number;
}

export interface InFlightTransaction {
  txnId: string;
  pdus: number;
  edus: number;
  startedAt: number;
}

export interface QueueSnapshot {
  destination: string;
  pendingPdus: number;
  /** EDU counts by type; m.presence counts user states */
  pendingEdus: Record<string, number>;
  pendingEduTotal: number;
  inFlight: InFlightTransaction | null;
  /** a failed transaction waiting to be sent again with its txnId */
  retainedTxnId: string | null;
  catchingUp: boolean;
  transmissionLoopRunning: boolean;
  lastError: (FederationErrorSummary & { at: number }) | null;
  lastSuccessTs: number | null;
  /** since when work has been waiting without a transaction succeeding, or null when there is none */
  workWaitingSince: number | null;
}

export class PerDestinationQueue {
  private transmissionLoopRunning = false;
  private newDataToSend = false;
  /** Catching up: PDUs an earlier process could not send, or what was dropped after a long backoff. */
  private catchingUp: boolean;
  /** Upper stream_ordering bound of the current catch-up; null once in-memory PDUs were dropped. */
  private catchUpBound: number | null;
  /** stream_ordering of the newest PDU not queued because we were catching up (Synapse's _catchup_last_skipped) */
  private catchUpLastSkipped = 0;
  /** undefined until read from the database */
  private lastSuccessfulStreamOrdering: number | null | undefined = undefined;
  private pendingPdus: QueuedPdu[] = [];
  private pendingEdus: Edu[] = [];
  private readonly pendingKeyedEdus = new Map<string, Edu>();
  private readonly pendingPresence = new Map<string, PresenceState>();
  private pendingReceiptEdus: ReceiptEduContent[] = [];
  private lastDeviceStreamId = 0;
  private lastDeviceListStreamId = 0;
  /** cleared after the outbox had nothing for us; set again when the sender hears of new rows */
  private mayHaveDeviceMessages: boolean;
  private mayHaveDeviceListUpdates: boolean;
  private retained: RetainedTransaction | null = null;
  /** the last catch-up transaction, so a retry of the same room content keeps its txnId */
  private lastCatchUp: PendingTransaction | null = null;
  private inFlight: InFlightTransaction | null = null;
  private lastError: (FederationErrorSummary & { at: number }) | null = null;
  private lastSuccessTs: number | null = null;
  private workWaitingSince: number | null = null;

  constructor(
    readonly destination: string,
    private readonly ctx: QueueContext,
  ) {
    this.catchUpBound = ctx.startPosition;
    // Synapse starts every queue in catch-up and asks the database; the answer for all was read once at start.
    this.catchingUp = ctx.owedAtStart(destination);
    this.mayHaveDeviceMessages = this.mayHaveDeviceListUpdates = ctx.outboxMayHaveRows(destination);
  }

  get isCatchingUp(): boolean {
    return this.catchingUp;
  }

  get isRunning(): boolean {
    return this.transmissionLoopRunning;
  }

  pendingPduCount(): number {
    return this.pendingPdus.length;
  }

  pendingEduCount(): number {
    return this.pendingEdus.length + this.pendingPresence.size + this.pendingKeyedEdus.size + this.pendingReceiptEdus.length;
  }

  hasPendingWork(): boolean {
    return this.pendingPdus.length > 0 || this.pendingEduCount() > 0 || this.retained !== null;
  }

  /** Adds a PDU and starts the loop. While catching up after dropping the queue, the PDU is left to catch-up. */
  sendPdu(pdu: QueuedPdu): void {
    if (!this.catchingUp || this.catchUpBound !== null || this.lastSuccessfulStreamOrdering === undefined) {
      this.pendingPdus.push(pdu);
      this.noteWork();
    } else {
      this.catchUpLastSkipped = Math.max(this.catchUpLastSkipped, pdu.streamOrdering);
    }
    this.attemptNewTransaction();
  }

  /**
   * A PDU for this destination was not queued because it is backing off for more than an hour: catch-up covers
   * it, and everything queued in memory, once the destination is back.
   */
  notePduSkipped(streamOrdering: number): void {
    this.catchUpLastSkipped = Math.max(this.catchUpLastSkipped, streamOrdering);
    if (!this.catchingUp || this.catchUpBound !== null) this.startCatchingUp();
  }

  sendPresence(states: readonly PresenceState[], startLoop: boolean): void {
    for (const state of states) {
      // a newer state for the user replaces the queued one and goes to the back, as Synapse's OrderedDict.update
      this.pendingPresence.delete(state.user_id);
      this.pendingPresence.set(state.user_id, state);
    }
    this.noteWork();
    this.newDataToSend = true;
    if (startLoop) this.attemptNewTransaction();
  }

  /**
   * Queues a receipt without starting the loop (Synapse's queue_read_receipt): a receipt replaces the queued one
   * with the same (room, type, user, thread); a second thread of the same user goes into another EDU.
   */
  queueReadReceipt(receipt: ReadReceipt): void {
    const serialized = { event_ids: receipt.eventIds, data: { ...receipt.data } as JsonObject };
    const threadId = receipt.threadId ?? undefined;
    if (threadId !== undefined) serialized.data.thread_id = threadId;
    let placed = false;
    for (const edu of this.pendingReceiptEdus) {
      const byUser = ((edu[receipt.roomId] ??= {})[receipt.receiptType] ??= {});
      const existing = byUser[receipt.userId];
      if (existing === undefined || existing.data.thread_id === threadId) {
        byUser[receipt.userId] = serialized;
        placed = true;
        break;
      }
    }
    if (!placed) this.pendingReceiptEdus.push({ [receipt.roomId]: { [receipt.receiptType]: { [receipt.userId]: serialized } } });
    this.noteWork();
    this.newDataToSend = true;
  }

  /** A keyed EDU replaces a queued one of the same type and key (typing: one per room and user). */
  sendKeyedEdu(edu: Edu, key: string): void {
    this.pendingKeyedEdus.set(`${edu.edu_type}\u0000${key}`, edu);
    this.noteWork();
    this.attemptNewTransaction();
  }

  sendEdu(edu: Edu): void {
    this.pendingEdus.push(edu);
    this.noteWork();
    this.attemptNewTransaction();
  }

  /** The outbox tables have new rows for us (to-device messages or device-list updates). */
  noteOutboxRows(): void {
    this.mayHaveDeviceMessages = true;
    this.mayHaveDeviceListUpdates = true;
    this.newDataToSend = true;
  }

  get hasNewData(): boolean {
    return this.newDataToSend;
  }

  /** Starts the transmission loop unless it runs already (then it sees the new data before it stops). */
  attemptNewTransaction(): void {
    this.newDataToSend = true;
    if (this.transmissionLoopRunning || this.ctx.isStopped()) return;
    this.transmissionLoopRunning = true;
    void this.transactionTransmissionLoop();
  }

  snapshot(): QueueSnapshot {
    const pendingEdus: Record<string, number> = {};
    const add = (type: string, n: number) => {
      if (n > 0) pendingEdus[type] = (pendingEdus[type] ?? 0) + n;
    };
    add("m.presence", this.pendingPresence.size);
    add("m.receipt", this.pendingReceiptEdus.length);
    for (const edu of this.pendingEdus) add(edu.edu_type, 1);
    for (const edu of this.pendingKeyedEdus.values()) add(edu.edu_type, 1);
    return {
      destination: this.destination,
      pendingPdus: this.pendingPdus.length,
      pendingEdus,
      pendingEduTotal: this.pendingEduCount(),
      inFlight: this.inFlight && { ...this.inFlight },
      retainedTxnId: this.retained?.txn.txnId ?? null,
      catchingUp: this.catchingUp,
      transmissionLoopRunning: this.transmissionLoopRunning,
      lastError: this.lastError,
      lastSuccessTs: this.lastSuccessTs,
      workWaitingSince: this.workWaitingSince,
    };
  }

  private noteWork(): void {
    this.workWaitingSince ??= this.ctx.now();
  }

  private async transactionTransmissionLoop(): Promise<void> {
    try {
      // Fail fast while backing off (the HTTP client checks again before each request).
      const readiness = await this.ctx.backoff.readiness(this.destination);
      if (!readiness.ready) {
        this.onNotReady(readiness);
        return;
      }
      for (;;) {
        if (this.ctx.isStopped()) return;
        if (this.catchingUp) {
          await this.ctx.catchUpSlots.run(() => this.catchUpTransmissionLoop());
          if (this.catchingUp) return;
        }
        this.newDataToSend = false;
        const retained = this.retained ?? (await this.buildTransaction());
        if (retained === null) {
          // Data queued while we were looking goes out now, or it would wait for the next wake-up.
          if (this.newDataToSend) continue;
          this.workWaitingSince = null;
          return;
        }
        this.retained = retained;
        await this.sendTransaction(retained.txn);
        await this.onTransactionSent(retained);
      }
    } catch (e) {
      if (e instanceof FederationRequestError) {
        if (e.errorClass === "backing_off") {
          this.onNotReady(await this.ctx.backoff.readiness(this.destination));
          return;
        }
        this.lastError = { ...e.toSummary(), at: this.ctx.now() };
        this.ctx.log.warn("failed to send transaction", {
          destination: this.destination, txn: this.retained?.txn.txnId, pdus: this.pendingPdus.length, error: e.message,
        });
      } else {
        this.lastError = { errorClass: "invalid_response", message: (e as Error).message, at: this.ctx.now() };
        this.ctx.log.error("transaction loop failed", { destination: this.destination, error: (e as Error).stack ?? String(e) });
      }
    } finally {
      // here rather than in a .finally() callback: work queued right after the loop's last look starts a new loop
      this.transmissionLoopRunning = false;
    }
  }

  /** Backing off: after more than an hour of it, volatile EDUs and queued PDUs are dropped for catch-up (Synapse). */
  private onNotReady(readiness: Readiness): void {
    if (readiness.ready || readiness.retryInterval <= CATCHUP_RETRY_INTERVAL_MS) return;
    this.pendingEdus = [];
    this.pendingKeyedEdus.clear();
    this.pendingPresence.clear();
    this.pendingReceiptEdus = [];
    this.startCatchingUp();
  }

  /** Drops in-memory PDUs (and a retained transaction): catch-up will send what the destination missed. */
  private startCatchingUp(): void {
    this.catchingUp = true;
    this.catchUpBound = null;
    this.pendingPdus = [];
    this.retained = null;
    if (!this.hasPendingWork()) this.workWaitingSince = null;
  }

  private async sendTransaction(txn: PendingTransaction): Promise<void> {
    this.inFlight = { txnId: txn.txnId, pdus: txn.body.pdus.length, edus: txn.body.edus.length, startedAt: this.ctx.now() };
    try {
      await this.ctx.transactions.send(txn);
    } finally {
      this.inFlight = null;
    }
    this.lastError = null;
    this.lastSuccessTs = this.ctx.now();
    this.workWaitingSince = this.hasPendingWork() ? this.lastSuccessTs : null;
  }

  /**
   * Fills a transaction (Synapse's _TransactionQueueManager): a presence EDU, up to 5 receipt EDUs, to-device
   * messages leaving 10 slots for device-list updates, device-list updates, other EDUs, keyed EDUs; then up to
   * 50 PDUs. Null when there is nothing to send.
   */
  private async buildTransaction(): Promise<RetainedTransaction | null> {
    // The outbox is read first (it may fail) and the volatile queues are taken from only after it, so a database
    // error loses nothing; the slots the presence and receipt EDUs will use are counted in advance.
    const receiptEduCount = Math.min(this.pendingReceiptEdus.length, MAX_RECEIPT_EDUS_PER_TRANSACTION);
    const includePresence = this.pendingPresence.size > 0;
    let limit = MAX_EDUS_PER_TRANSACTION - (includePresence ? 1 : 0) - receiptEduCount;
    let toDevice: OutboxBatch | null = null;
    if (this.mayHaveDeviceMessages) {
      this.mayHaveDeviceMessages = false;
      toDevice = await this.ctx.outbox.getNewDeviceMessagesForRemote(this.destination, this.lastDeviceStreamId, limit - DEVICE_LIST_RESERVED_SLOTS);
      // there may be more than fitted
      if (toDevice.edus.length > 0) this.mayHaveDeviceMessages = true;
      limit -= toDevice.edus.length;
    }
    let deviceLists: OutboxBatch | null = null;
    if (this.mayHaveDeviceListUpdates) {
      this.mayHaveDeviceListUpdates = false;
      deviceLists = await this.ctx.outbox.getDeviceUpdatesByRemote(this.destination, this.lastDeviceListStreamId, limit);
      if (deviceLists.edus.length > 0) this.mayHaveDeviceListUpdates = true;
      limit -= deviceLists.edus.length;
    }

    const edus: Edu[] = [];
    if (includePresence) {
      const states: JsonObject[] = [];
      for (const [userId, state] of this.pendingPresence) {
        if (states.length >= MAX_PRESENCE_STATES_PER_EDU) break;
        this.pendingPresence.delete(userId);
        states.push(formatPresenceState(state, this.ctx.now()));
      }
      edus.push({ edu_type: "m.presence", content: { push: states } });
    }
    for (const content of this.pendingReceiptEdus.splice(0, receiptEduCount)) {
      edus.push({ edu_type: "m.receipt", content: content as JsonObject });
    }
    for (const e of [...(toDevice?.edus ?? []), ...(deviceLists?.edus ?? [])]) edus.push({ edu_type: e.eduType, content: e.content });
    const others = this.pendingEdus.splice(0, Math.max(0, limit));
    edus.push(...others);
    limit -= others.length;
    for (const [key, edu] of this.pendingKeyedEdus) {
      if (limit <= 0) break;
      this.pendingKeyedEdus.delete(key);
      edus.push(edu);
      limit--;
    }

    const pdus = this.pendingPdus.slice(0, MAX_PDUS_PER_TRANSACTION);
    if (pdus.length === 0 && edus.length === 0) return null;
    return {
      txn: this.ctx.transactions.newTransaction(this.destination, pdus, edus),
      pduCount: pdus.length,
      lastStreamOrdering: pdus.at(-1)?.streamOrdering ?? null,
      deviceStreamId: toDevice?.edus.length ? toDevice.lastStreamId : null,
      deviceListStreamId: deviceLists?.edus.length ? deviceLists.lastStreamId : null,
    };
  }

  /** After a 2xx: the PDUs leave the queue, outbox rows are acknowledged, the position advances. */
  private async onTransactionSent(sent: RetainedTransaction): Promise<void> {
    // Catch-up may have dropped the queue (and this transaction) while it was in flight.
    if (this.retained === sent) {
      this.retained = null;
      this.pendingPdus.splice(0, sent.pduCount);
    }
    if (sent.deviceStreamId !== null) {
      await this.ctx.outbox.deleteDeviceMessagesForRemote(this.destination, sent.deviceStreamId);
      this.lastDeviceStreamId = sent.deviceStreamId;
    }
    if (sent.deviceListStreamId !== null) {
      await this.ctx.outbox.markAsSentDevicesByRemote(this.destination, sent.deviceListStreamId);
      this.lastDeviceListStreamId = sent.deviceListStreamId;
    }
    if (sent.lastStreamOrdering !== null) this.advanceLastSuccessful(sent.lastStreamOrdering);
  }

  private advanceLastSuccessful(streamOrdering: number): void {
    if (this.lastSuccessfulStreamOrdering === undefined || this.lastSuccessfulStreamOrdering === null || streamOrdering > this.lastSuccessfulStreamOrdering) {
      this.lastSuccessfulStreamOrdering = streamOrdering;
    }
    this.ctx.recordLastSuccessful(this.destination, streamOrdering);
  }

  /**
   * Synapse's _catch_up_transmission_loop: 50 rooms at a time, oldest first, each in its own transaction holding
   * the room's forward extremities that are newer than the last success and whose state has the destination in
   * the room — else the newest PDU we had for it. Leaves catch-up when no room is left behind.
   */
  private async catchUpTransmissionLoop(): Promise<void> {
    const events = this.ctx.events;
    const firstCheck = this.lastSuccessfulStreamOrdering === undefined;
    if (firstCheck) {
      this.lastSuccessfulStreamOrdering = await this.ctx.destinations.getLastSuccessfulStreamOrdering(this.destination);
    }
    // A destination that never acknowledged a PDU is owed everything recorded for it.
    let last = this.lastSuccessfulStreamOrdering ?? 0;
    let dropQueued = firstCheck;
    for (;;) {
      if (this.ctx.isStopped()) return;
      const rooms = await this.ctx.destinationRooms.getCatchUpRoomEvents(this.destination, last, this.catchUpBound);
      if (rooms.length === 0) {
        if (this.catchUpLastSkipped > last) {
          // a PDU was skipped while we looked: look again (or, if its room was purged, stop next time)
          this.catchUpLastSkipped = 0;
          continue;
        }
        this.catchingUp = false;
        this.catchUpBound = null;
        return;
      }
      // Unbounded catch-up replaces whatever was queued before we knew it was needed (Synapse).
      if (dropQueued && this.catchUpBound === null) this.startCatchingUp();
      dropQueued = false;
      this.ctx.log.info("catching up destination", { destination: this.destination, rooms: rooms.length, after: last });
      const originals = await events.getPdus(rooms.map((r) => r.eventId));
      for (const room of rooms) {
        const original = originals.get(room.eventId);
        if (original) {
          const pdus = await this.catchUpPdus(events, room.roomId, { eventId: room.eventId, pdu: original }, last);
          const txn = this.sameAsLastCatchUp(pdus) ?? this.ctx.transactions.newTransaction(this.destination, pdus, []);
          this.lastCatchUp = txn;
          await this.sendTransaction(txn);
          this.lastCatchUp = null;
        }
        // The position is the original PDU's: it marks our place in the destination's list of missed rooms.
        last = room.streamOrdering;
        this.advanceLastSuccessful(last);
      }
    }
  }

  /** The room's PDUs for catch-up (see catchUpTransmissionLoop). */
  private async catchUpPdus(
    events: QueueContext["events"],
    roomId: string,
    original: OutgoingPdu,
    lastSuccessful: number,
  ): Promise<OutgoingPdu[]> {
    const extremities = await events.forwardExtremities(roomId);
    if (extremities.some((x) => x.eventId === original.eventId)) return [original];
    const newer = extremities.filter((x) => x.streamOrdering >= lastSuccessful);
    const hosts = await Promise.all(newer.map((x) => events.joinedHostsAtEvent(x.eventId)));
    // Only events the destination may see: its server was in the room (a stand-in for filter_events_for_server).
    const visible = newer.filter((_, i) => hosts[i]!.includes(this.destination)).map((x) => x.eventId);
    if (visible.length === 0) return [original];
    const pdus = await events.getPdus(visible);
    const found = visible.flatMap((eventId) => {
      const pdu = pdus.get(eventId);
      return pdu ? [{ eventId, pdu }] : [];
    });
    return found.length > 0 ? found : [original];
  }

  /** A retried catch-up of the same events keeps its transaction (and txnId). */
  private sameAsLastCatchUp(pdus: readonly OutgoingPdu[]): PendingTransaction | null {
    const previous = this.lastCatchUp;
    if (!previous || previous.pduIds.length !== pdus.length) return null;
    return pdus.every((p, i) => p.eventId === previous.pduIds[i]) ? previous : null;
  }
}

/** A built transaction and what its success acknowledges. */
interface RetainedTransaction {
  txn: PendingTransaction;
  pduCount: number;
  lastStreamOrdering: number | null;
  deviceStreamId: number | null;
  deviceListStreamId: number | null;
}

/** Synapse's format_user_presence_state for federation. */
export function formatPresenceState(state: PresenceState, now: number): JsonObject {
  const content: JsonObject = { presence: state.state, user_id: state.user_id };
  if (state.last_active_ts) content.last_active_ago = now - state.last_active_ts;
  if (state.status_msg) content.status_msg = state.status_msg;
  if (state.state === "online") content.currently_active = state.currently_active;
  return content;
}
