/**
 * What the federation sender needs from the rest of the engine, and the units it queues. The rooms engine (event
 * persistence and state) implements SenderEventSource; the composition root wires it in.
 */
import type { JsonObject } from "../../crypto";

export type { PresenceState } from "../../replication/streams/presence";

/** An event as the sender sees it on the events stream. */
export interface PersistedEvent {
  /** its position on the events stream */
  streamOrdering: number;
  eventId: string;
  roomId: string;
  sender: string;
  outlier: boolean;
  rejected: boolean;
  softFailed?: boolean;
  /** a remote server's membership event (send_join/leave/knock) we relay for it to the room's other servers */
  sendOnBehalfOf?: string | null;
}

export interface SenderEventSource {
  /** called after each event is persisted, in stream order */
  onPersisted(listener: (event: PersistedEvent) => void): void;
  /** events after `afterStreamOrdering` in stream order, at most `limit` (start-up and gaps) */
  getEventsSince(afterStreamOrdering: number, limit: number): Promise<PersistedEvent[]>;
  /** the PDU JSON to send, by event ID (missing IDs are left out) */
  getPdus(eventIds: string[]): Promise<Map<string, JsonObject>>;
  /** servers with a joined member in the room in the state before the event (Synapse's get_hosts_in_room_at_events) */
  joinedHostsAtEvent(eventId: string): Promise<string[]>;
  /** the room's forward extremities now (catch-up sends these) */
  forwardExtremities(roomId: string): Promise<{ eventId: string; streamOrdering: number }[]>;
  /** servers with a joined member in the room now (receipts and typing go to these) */
  currentHostsInRoom(roomId: string): Promise<string[]>;
  /** who sent an event and when we received it (receipt pacing), or null when unknown */
  eventMetadata(eventId: string): Promise<{ sender: string; receivedTs: number } | null>;
}

/** An EDU as it travels in a transaction. */
export type Edu = {
  edu_type: string;
  content: JsonObject;
};

/** A read receipt of a local user (Synapse's ReadReceipt). */
export interface ReadReceipt {
  roomId: string;
  receiptType: string;
  userId: string;
  eventIds: string[];
  /** e.g. {"ts": 1700000000000} */
  data: JsonObject;
  threadId?: string | null;
}
