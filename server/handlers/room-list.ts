/**
 * RoomListHandler (Synapse synapse/handlers/room_list.py): our public room directory for other servers (spec
 * GET/POST /_matrix/federation/v1/publicRooms), biggest rooms first, paged with an offset token.
 */
import { z } from "zod";
import { badJson } from "../http/matrix-error";
import type { RoomStore } from "../store/room-store";
import type { RoomSummary, RoomSummaryHandler } from "./room-summary";

const DEFAULT_LIMIT = 100;

export const publicRoomsRequestSchema = z.object({
  limit: z.coerce.number().int().min(0).optional(),
  since: z.string().optional(),
  filter: z.object({ generic_search_term: z.string().optional() }).loose().optional(),
}).loose();

export type PublicRoomsRequest = z.infer<typeof publicRoomsRequestSchema>;

export interface PublicRoomsResponse {
  chunk: RoomSummary[];
  next_batch?: string;
  prev_batch?: string;
  total_room_count_estimate: number;
}

export class RoomListHandler {
  constructor(private readonly rooms: RoomStore, private readonly summaries: RoomSummaryHandler) {}

  async getPublicRooms(request: PublicRoomsRequest): Promise<PublicRoomsResponse> {
    const offset = request.since === undefined ? 0 : Number.parseInt(request.since.replace(/^o/, ""), 10);
    if (!Number.isInteger(offset) || offset < 0) throw badJson(`Invalid since token ${request.since}`);
    const limit = request.limit ?? DEFAULT_LIMIT;
    const term = request.filter?.generic_search_term?.toLowerCase();
    const summaries: RoomSummary[] = [];
    for (const room of await this.rooms.listRooms({ publicOnly: true })) {
      const summary = await this.summaries.summary(room.roomId);
      if (!summary) continue;
      if (term && ![summary.name, summary.topic, summary.canonical_alias].some((t) => t?.toLowerCase().includes(term))) continue;
      summaries.push(summary);
    }
    summaries.sort((a, b) => b.num_joined_members - a.num_joined_members || (a.room_id < b.room_id ? -1 : 1));
    const chunk = summaries.slice(offset, offset + limit);
    return {
      chunk,
      ...(offset + limit < summaries.length ? { next_batch: `o${offset + limit}` } : {}),
      ...(offset > 0 ? { prev_batch: `o${Math.max(0, offset - limit)}` } : {}),
      total_room_count_estimate: summaries.length,
    };
  }
}
