/**
 * `main`'s side of the events stream: the current token is the newest persisted stream_ordering, and missed rows
 * are read back from the events table. The persister tells it of each new event; the streamer publishes.
 */
import type { EventsStreamStore } from "../../store/events-stream-store";
import type { StreamWriter, UpdateFunction } from "./base";
import { EventsStream, eventRow, type EventsStreamRow } from "./events";

export class EventsStreamWriter implements StreamWriter<EventsStreamRow> {
  readonly stream = EventsStream;
  private token = 0;

  constructor(private readonly store: EventsStreamStore) {}

  /** Reads the current position from the database (at start-up). */
  async load(): Promise<void> {
    this.token = Math.max(this.token, await this.store.maxStreamOrdering());
  }

  /** An event was persisted at `streamOrdering`. */
  advance(streamOrdering: number): void {
    this.token = Math.max(this.token, streamOrdering);
  }

  currentToken(): number {
    return this.token;
  }

  readonly updateFunction: UpdateFunction<EventsStreamRow> = async (_instance, fromToken, uptoToken, limit) => {
    const rows = await this.store.rowsBetween(fromToken, uptoToken, limit);
    const limited = rows.length === limit;
    return {
      updates: rows.map((r) => [r.streamOrdering, eventRow({
        event_id: r.eventId, room_id: r.roomId, type: r.type, state_key: r.stateKey, redacts: r.redacts,
        relates_to: r.relatesTo, membership: r.membership, rejected: r.rejected, outlier: r.outlier,
      })]),
      upto_token: limited ? rows[rows.length - 1]!.streamOrdering : uptoToken,
      limited,
    };
  };
}
