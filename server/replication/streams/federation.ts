/**
 * The federation stream (Synapse: streams/federation.py, federation/send_queue.py): EDUs and presence that
 * `main` hands to the federation senders. Rows are `["pd", {state, dests}]` (a presence state for explicit
 * destinations), `["k", {key, edu}]` (a keyed EDU: a newer one with the same key replaces the older, e.g.
 * typing) and `["e", edu]`. It lives in memory on its writer, so it restarts at 0. Senders acknowledge what
 * they have processed with FEDERATION_ACK. PDUs do not travel here: senders follow the events stream.
 */
import { z } from "zod";
import { defineStream, jsonObject } from "./base";
import { presenceStateSchema } from "./presence";

/** Synapse's Edu.get_internal_dict(). */
export const eduSchema = z.looseObject({
  edu_type: z.string(),
  content: jsonObject,
  origin: z.string(),
  destination: z.string(),
});

export const federationStreamRowSchema = z.union([
  z.tuple([z.literal("pd"), z.looseObject({ state: presenceStateSchema, dests: z.array(z.string()) })]),
  z.tuple([z.literal("k"), z.looseObject({ key: z.array(z.string()), edu: eduSchema })]),
  z.tuple([z.literal("e"), eduSchema]),
]);

export type Edu = z.infer<typeof eduSchema>;
export type FederationStreamRow = z.infer<typeof federationStreamRowSchema>;

export const FederationStream = defineStream("federation", federationStreamRowSchema, { resettable: true });
