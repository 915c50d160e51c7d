/**
 * The caches stream (Synapse: CachesStream): `[cache_func, keys, invalidation_ts]`; keys null invalidates the
 * whole cache. Every process may write it.
 */
import { z } from "zod";
import { defineStream, jsonValue } from "./base";

export const cachesStreamRowSchema = z.tuple([z.string(), z.array(jsonValue).nullable(), z.number().int()]);

export type CachesStreamRow = z.infer<typeof cachesStreamRowSchema>;

export const CachesStream = defineStream("caches", cachesStreamRowSchema, { resettable: false });
