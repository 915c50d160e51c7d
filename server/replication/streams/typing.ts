/**
 * The typing stream (Synapse: TypingStream): `[room_id, [user_ids]]`, the full list of users typing in the room
 * now (an empty list means nobody). Kept in memory by its writer, so it restarts at 0.
 */
import { z } from "zod";
import { defineStream } from "./base";

export const typingStreamRowSchema = z.tuple([z.string(), z.array(z.string())]);

export type TypingStreamRow = z.infer<typeof typingStreamRowSchema>;

export const TypingStream = defineStream("typing", typingStreamRowSchema, { resettable: true });
