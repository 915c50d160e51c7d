/**
 * The events stream as a federation sender worker sees it: `main` persists events and announces them with RDATA
 * `events` rows over replication; this turns each `ev` row back into the persisted event (read from the shared
 * database), so the sender works the same in one process or several. Everything else is read from the database.
 */
import type { ReplicationDataHandler } from "../../replication/data-handler";
import { EventsStream } from "../../replication/streams/events";
import type { PersistedEvent, SenderEventSource } from "./types";

export class ReplicatedEventSource implements SenderEventSource {
  constructor(private readonly database: SenderEventSource, private readonly dataHandler: ReplicationDataHandler) {}

  onPersisted(listener: (event: PersistedEvent) => void): void {
    this.dataHandler.register(EventsStream, async ({ token, rows }) => {
      if (!rows.some((row) => row[0] === "ev")) return;
      // An `ev` row's token is its event's stream_ordering.
      const [event] = await this.database.getEventsSince(token - 1, 1);
      if (event && event.streamOrdering === token) listener(event);
    });
  }

  getEventsSince: SenderEventSource["getEventsSince"] = (after, limit) => this.database.getEventsSince(after, limit);
  getPdus: SenderEventSource["getPdus"] = (ids) => this.database.getPdus(ids);
  joinedHostsAtEvent: SenderEventSource["joinedHostsAtEvent"] = (id) => this.database.joinedHostsAtEvent(id);
  forwardExtremities: SenderEventSource["forwardExtremities"] = (roomId) => this.database.forwardExtremities(roomId);
  currentHostsInRoom: SenderEventSource["currentHostsInRoom"] = (roomId) => this.database.currentHostsInRoom(roomId);
  eventMetadata: SenderEventSource["eventMetadata"] = (id) => this.database.eventMetadata(id);
}
