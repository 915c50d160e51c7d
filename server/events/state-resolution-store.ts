/**
 * What state resolution needs from storage, and the per-resolution view of events fetched through it. Every
 * algorithm step first loads the events it will read in one batch, then reads them synchronously.
 */
import type { Pdu } from "./pdu";

export interface StateResolutionStore {
  /** The events by ID; the caller guarantees the events state resolution asks for exist (rejected ones included). */
  getEvents(eventIds: Iterable<string>): Promise<Map<string, Pdu>>;
  /** The full auth chain (IDs) of these events, not including the events themselves unless one is another's auth event. */
  getAuthChain(eventIds: Iterable<string>): Promise<Set<string>>;
  /**
   * Which of these events were rejected. Optional: without it no event counts as rejected. Rejected events never
   * enter the resolved state and rejected auth events are not used in the iterative auth checks (spec, and Synapse).
   */
  getRejectedEventIds?(eventIds: Iterable<string>): Promise<Set<string>>;
}

export class StateResolutionEvents {
  private readonly events = new Map<string, Pdu>();
  private readonly rejected = new Set<string>();
  private readonly asked = new Set<string>();

  constructor(private readonly store: StateResolutionStore) {}

  /** Fetches those of `eventIds` not fetched before; any the store lacks stay absent (see find). */
  async load(eventIds: Iterable<string>): Promise<void> {
    const missing = [...new Set(eventIds)].filter((id) => !this.asked.has(id));
    if (missing.length === 0) return;
    for (const id of missing) this.asked.add(id);
    const found = await this.store.getEvents(missing);
    for (const [id, event] of found) this.events.set(id, event);
    if (this.store.getRejectedEventIds) {
      for (const id of await this.store.getRejectedEventIds(missing)) this.rejected.add(id);
    }
  }

  find(eventId: string): Pdu | undefined {
    return this.events.get(eventId);
  }

  /** A loaded event that must exist. */
  get(eventId: string): Pdu {
    const event = this.events.get(eventId);
    if (!event) throw new Error(`state resolution needs event ${eventId}, which the store did not return`);
    return event;
  }

  isRejected(eventId: string): boolean {
    return this.rejected.has(eventId);
  }
}
