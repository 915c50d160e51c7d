/**
 * The rooms engine as the federation sender sees it (SenderEventSource): the events stream (new events as they
 * are persisted, and a catch-up read by stream position), the PDUs to send, and who is in each room.
 */
import type { JsonObject } from "../crypto";
import type { PersistedEvent, SenderEventSource } from "../federation/sender";
import type { EventStore } from "../store/event-store";
import type { StateStore } from "../store/state-store";
import type { EventPersister } from "./event-persister";

export class RoomEventSource implements SenderEventSource {
  constructor(
    private readonly persister: EventPersister,
    private readonly events: EventStore,
    private readonly state: StateStore,
  ) {}

  onPersisted(listener: (event: PersistedEvent) => void): void {
    this.persister.onPersisted(listener);
  }

  getEventsSince(afterStreamOrdering: number, limit: number): Promise<PersistedEvent[]> {
    return this.events.getEventsSince(afterStreamOrdering, limit);
  }

  async getPdus(eventIds: string[]): Promise<Map<string, JsonObject>> {
    const events = await this.events.getEvents(eventIds);
    return new Map([...events].map(([id, event]) => [id, event.pdu]));
  }

  async joinedHostsAtEvent(eventId: string): Promise<string[]> {
    return [...((await this.state.joinedHostsAtEvent(eventId)) ?? [])].sort();
  }

  async forwardExtremities(roomId: string): Promise<{ eventId: string; streamOrdering: number }[]> {
    const events = await this.events.getEvents(await this.events.getForwardExtremities(roomId));
    return [...events.values()].map((e) => ({ eventId: e.eventId, streamOrdering: e.streamOrdering }));
  }

  async currentHostsInRoom(roomId: string): Promise<string[]> {
    return [...(await this.state.currentJoinedHosts(roomId))].sort();
  }

  async eventMetadata(eventId: string): Promise<{ sender: string; receivedTs: number } | null> {
    const event = await this.events.getEvent(eventId);
    return event && { sender: String(event.pdu.sender), receivedTs: event.receivedTs };
  }
}
