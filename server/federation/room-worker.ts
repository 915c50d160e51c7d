/**
 * StagingWorkers: drain the persisted inbound staging area (Synapse _process_incoming_pdus_in_room_inner). One
 * loop per room takes staged PDUs in arrival order and hands each to the FederationEventHandler, so a room's
 * events are processed one at a time while different rooms proceed in parallel; a room's batch of events is
 * written in one database transaction (EventBatch). A row leaves staging only after its event is persisted, or
 * judged unusable: a crash or restart loses nothing /send accepted, and start-up resumes every room that still
 * has rows.
 */
import { getRoomVersion, knownEventId, parsePdu } from "../events";
import type { Logger } from "../http/router";
import type { EventPersister } from "../rooms/event-persister";
import type { EventBatch } from "../store/event-batch";
import type { EventStore } from "../store/event-store";
import type { RoomStore } from "../store/room-store";
import type { StagedEvent, StagingStore } from "../store/staging-store";
import type { FederationEventHandler } from "./event-handler";

/** Staged rows taken at once, checked one by one and written in one database transaction: a transaction's PDUs. */
const BATCH = 50;

export interface StagingWorkersOptions {
  staging: StagingStore;
  rooms: RoomStore;
  events: EventStore;
  persister: EventPersister;
  handler: FederationEventHandler;
  log: Logger;
}

export class StagingWorkers {
  private readonly running = new Map<string, Promise<void>>();
  /** rooms woken while their loop was running: it looks once more before ending */
  private readonly again = new Set<string>();
  private stopping = false;

  constructor(private readonly o: StagingWorkersOptions) {}

  /** Resumes the rooms that still have staged events (after a restart). */
  async start(): Promise<void> {
    for (const roomId of await this.o.staging.roomsWithStagedEvents()) this.wake(roomId);
  }

  /** Makes sure the room's loop runs: called whenever an event is staged. */
  wake(roomId: string): void {
    if (this.stopping) return;
    if (this.running.has(roomId)) {
      this.again.add(roomId);
      return;
    }
    const loop = this.drain(roomId)
      .catch((e: Error) => this.o.log.error("staging worker failed", { room_id: roomId, error: e.message }))
      .finally(() => {
        this.running.delete(roomId);
        if (this.again.delete(roomId)) this.wake(roomId);
      });
    this.running.set(roomId, loop);
  }

  private async drain(roomId: string): Promise<void> {
    while (!this.stopping) {
      const rows = await this.o.staging.next(roomId, BATCH);
      if (rows.length === 0) return;
      // Rows are removed once their events are written: a crash in between only means processing an event
      // again, which finds it already persisted. When the write fails, they stay for the next wake-up or start.
      const done: number[] = [];
      const batch = this.o.persister.openBatch(roomId);
      try {
        await this.o.events.prefetch(rows.map((r) => r.eventId));
        for (const staged of rows) {
          if (this.stopping || !(await this.processOne(staged, batch))) break;
          done.push(staged.id);
        }
        await this.o.persister.commit(batch);
      } finally {
        this.o.persister.closeBatch(batch);
      }
      await this.o.staging.remove(done);
    }
  }

  /** Processes one staged event; false when stopping interrupted it (it stays staged for the next start). */
  private async processOne(staged: StagedEvent, batch: EventBatch): Promise<boolean> {
    try {
      const versionId = await this.o.rooms.getRoomVersion(staged.roomId);
      if (versionId === null) throw new Error(`room ${staged.roomId} is no longer known`);
      const event = parsePdu(JSON.parse(staged.eventJson));
      // /send computed the ID (a hash of the whole redacted event) when it staged it: no need to hash it again
      knownEventId(event, staged.eventId);
      await this.o.handler.onReceivePdu(staged.origin, event, getRoomVersion(versionId), { batch });
    } catch (e) {
      if (this.stopping) return false;
      this.o.log.warn("dropping a staged event that could not be processed", { origin: staged.origin, event_id: staged.eventId, error: (e as Error).message });
    }
    return true;
  }

  /** Resolves once no room has work left (tests and benchmarks wait for processing with it). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  /** Stops taking new work and waits for the events being processed. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.running.values()]);
  }
}
