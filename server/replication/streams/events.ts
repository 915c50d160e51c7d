/**
 * The events stream (Synapse: streams/events.py): one `ev` row per persisted event, `state` rows when a room's
 * current state changes and `state-all` when too many changed at once. Only `main` writes it; the token is the
 * event's stream_ordering. PDUs themselves are read from the database by whoever follows the stream.
 */
import { z } from "zod";
import { defineStream } from "./base";

export const eventRowSchema = z.tuple([
  z.string(), // event_id
  z.string(), // room_id
  z.string(), // type
  z.string().nullable(), // state_key
  z.string().nullable(), // redacts
  z.string().nullable(), // relates_to
  z.string().nullable(), // membership
  z.boolean(), // rejected
  z.boolean(), // outlier
]);

export const currentStateRowSchema = z.tuple([
  z.string(), // room_id
  z.string(), // type
  z.string(), // state_key
  z.string().nullable(), // event_id (null: the state entry was removed)
]);

export const eventsStreamRowSchema = z.union([
  z.tuple([z.literal("ev"), eventRowSchema]),
  z.tuple([z.literal("state"), currentStateRowSchema]),
  z.tuple([z.literal("state-all"), z.tuple([z.string()])]),
]);

export type EventsStreamRow = z.infer<typeof eventsStreamRowSchema>;

export const EventsStream = defineStream("events", eventsStreamRowSchema, { resettable: false });

export interface EventRowFields {
  event_id: string;
  room_id: string;
  type: string;
  state_key: string | null;
  redacts: string | null;
  relates_to: string | null;
  membership: string | null;
  rejected: boolean;
  outlier: boolean;
}

/** Builds an `ev` row from named fields, so writers cannot get the positional order wrong. */
export function eventRow(f: EventRowFields): EventsStreamRow {
  return ["ev", [f.event_id, f.room_id, f.type, f.state_key, f.redacts, f.relates_to, f.membership, f.rejected, f.outlier]];
}
