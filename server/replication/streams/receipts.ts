/**
 * The receipts stream (Synapse: ReceiptsStream):
 * `[room_id, receipt_type, user_id, event_id, thread_id, data]`, thread_id null for unthreaded receipts.
 */
import { z } from "zod";
import { defineStream, jsonObject } from "./base";

export const receiptsStreamRowSchema = z.tuple([
  z.string(), // room_id
  z.string(), // receipt_type
  z.string(), // user_id
  z.string(), // event_id
  z.string().nullable(), // thread_id
  jsonObject, // data, e.g. {"ts": 1700000000000}
]);

export type ReceiptsStreamRow = z.infer<typeof receiptsStreamRowSchema>;

export const ReceiptsStream = defineStream("receipts", receiptsStreamRowSchema, { resettable: false });
