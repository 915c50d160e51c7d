/**
 * The presence stream (Synapse: PresenceStream): one row per changed local user presence,
 * `[user_id, state, last_active_ts, last_federation_update_ts, last_user_sync_ts, status_msg, currently_active]`.
 */
import { z } from "zod";
import { defineStream } from "./base";

export const presenceStreamRowSchema = z.tuple([
  z.string(), // user_id
  z.string(), // state
  z.number().int(), // last_active_ts
  z.number().int(), // last_federation_update_ts
  z.number().int(), // last_user_sync_ts
  z.string().nullable(), // status_msg
  z.boolean(), // currently_active
]);

/** The same state as a JSON object (Synapse's UserPresenceState.as_dict()), as the federation stream carries it. */
export const presenceStateSchema = z.looseObject({
  user_id: z.string(),
  state: z.string(),
  last_active_ts: z.number().int(),
  last_federation_update_ts: z.number().int(),
  last_user_sync_ts: z.number().int(),
  status_msg: z.string().nullable(),
  currently_active: z.boolean(),
});

export type PresenceStreamRow = z.infer<typeof presenceStreamRowSchema>;
export type PresenceState = z.infer<typeof presenceStateSchema>;

export const PresenceStream = defineStream("presence", presenceStreamRowSchema, { resettable: false });
