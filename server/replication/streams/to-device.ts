/**
 * The to_device stream (Synapse: ToDeviceStream): `[entity]`, a local user ID ("@...") whose devices have new
 * messages, or a remote server name whose outbox (device_federation_outbox) has messages to send.
 */
import { z } from "zod";
import { defineStream } from "./base";

export const toDeviceStreamRowSchema = z.tuple([z.string()]);

export type ToDeviceStreamRow = z.infer<typeof toDeviceStreamRowSchema>;

export const ToDeviceStream = defineStream("to_device", toDeviceStreamRowSchema, { resettable: false });
