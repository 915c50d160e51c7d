/**
 * The device_lists stream (Synapse: DeviceListsStream): `[user_id, is_signature, hosts_calculated]`; a row with
 * hosts_calculated means the outbound pokes for remote servers are written and can be sent.
 */
import { z } from "zod";
import { defineStream } from "./base";

export const deviceListsStreamRowSchema = z.tuple([z.string(), z.boolean(), z.boolean()]);

export type DeviceListsStreamRow = z.infer<typeof deviceListsStreamRowSchema>;

export const DeviceListsStream = defineStream("device_lists", deviceListsStreamRowSchema, { resettable: false });
