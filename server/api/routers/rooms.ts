/**
 * `rooms.*`: rooms for operators and tests — create one (any room version 1–12), join (locally or over
 * federation through `via`), leave, invite (local or remote users), send events, and look at rooms: their state,
 * members, servers and timeline.
 */
import { z } from "zod";
import type { JsonObject } from "../../crypto";
import { KNOWN_ROOM_VERSIONS, parseStateKey } from "../../events";
import { notFound } from "../../http/matrix-error";
import { ROOM_PRESETS } from "../../rooms/room-creation";
import { engineProcedure } from "../engine-procedure";
import { createTRPCRouter } from "../trpc";

const userId = z.string().regex(/^@[^:]+:.+$/, "expected a user ID such as @alice:example.org");
const roomId = z.string().regex(/^![^:]*(:.+)?$/, "expected a room ID such as !abc:example.org");
const roomOrAlias = z.string().regex(/^(![^:]*(:.+)?|#[^:]+:.+)$/, "expected a room ID or an alias such as #room:example.org");
const serverName = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, "expected a server name");
const jsonObject = z.record(z.string(), z.json());

/** When the timeline we hold is shorter than asked for, older events are fetched from the room's servers first. */
async function withBackfill(fetch: () => Promise<number>, backfill: () => Promise<unknown>, limit: number): Promise<void> {
  if ((await fetch()) >= limit) return;
  await backfill().catch(() => undefined);
}

export const roomsRouter = createTRPCRouter({
  create: engineProcedure
    .input(z.object({
      creator: userId,
      room_version: z.string().refine((v) => KNOWN_ROOM_VERSIONS.has(v), "unknown room version; known: 1 to 12").optional(),
      name: z.string().max(255).optional(),
      preset: z.enum(ROOM_PRESETS).optional(),
      /** a local alias for the room: #<room_alias_name>:<our server> */
      room_alias_name: z.string().regex(/^[^:#\s]+$/, "an alias localpart has no ':', '#' or spaces").max(200).optional(),
    }))
    .mutation(async ({ ctx: { hs }, input }) => {
      const room = await hs.rooms.roomCreation.createRoom({
        creator: input.creator, roomVersion: input.room_version, name: input.name, preset: input.preset, aliasLocalpart: input.room_alias_name,
      });
      return { room_id: room.roomId, room_version: room.roomVersion };
    }),

  join: engineProcedure
    .input(z.object({ user_id: userId, room: roomOrAlias, via: z.array(serverName).max(20).optional() }))
    .mutation(async ({ ctx: { hs }, input }) => {
      const { roomId, event } = await hs.rooms.members.join(input.user_id, input.room, input.via);
      return { room_id: roomId, event_id: event.eventId };
    }),

  leave: engineProcedure
    .input(z.object({ user_id: userId, room_id: roomId }))
    .mutation(async ({ ctx: { hs }, input }) => ({ event_id: (await hs.rooms.members.leave(input.user_id, input.room_id)).eventId })),

  invite: engineProcedure
    .input(z.object({ sender: userId, room_id: roomId, user_id: userId }))
    .mutation(async ({ ctx: { hs }, input }) => ({ event_id: (await hs.rooms.members.invite(input.sender, input.room_id, input.user_id)).eventId })),

  send: engineProcedure
    .input(z.object({
      user_id: userId,
      room_id: roomId,
      type: z.string().min(1).max(255),
      content: jsonObject,
      /** present: a state event with this state_key */
      state_key: z.string().max(255).optional(),
    }))
    .mutation(async ({ ctx: { hs }, input }) => {
      const event = await hs.rooms.eventCreation.send(input.room_id, {
        type: input.type, sender: input.user_id, content: input.content as JsonObject, stateKey: input.state_key,
      });
      return { event_id: event.eventId, stream_ordering: event.streamOrdering };
    }),

  list: engineProcedure.query(async ({ ctx: { hs } }) => {
    const rooms = await hs.stores.rooms.listRooms();
    return Promise.all(rooms.map(async (room) => {
      const summary = await hs.rooms.summaries.summary(room.roomId);
      return {
        room_id: room.roomId,
        room_version: room.roomVersion,
        creator: room.creator,
        is_public: room.isPublic,
        name: summary?.name ?? null,
        joined_members: summary?.num_joined_members ?? 0,
        /** false for rooms we only hold an invite to, or have left */
        joined: summary !== null && (await hs.rooms.members.isServerInRoom(room.roomId)),
      };
    }));
  }),

  get: engineProcedure.input(z.object({ room_id: roomId })).query(async ({ ctx: { hs }, input }) => {
    const room = await hs.stores.rooms.getRoom(input.room_id);
    if (!room) throw notFound(`Unknown room ${input.room_id}`);
    const state = await hs.stores.state.getCurrentState(input.room_id);
    const events = await hs.stores.events.getEvents(state.values());
    const members = await hs.stores.state.getCurrentMembers(input.room_id);
    return {
      room_id: room.roomId,
      room_version: room.roomVersion,
      creator: room.creator,
      is_public: room.isPublic,
      state: [...state].map(([key, eventId]) => {
        const [type, stateKey] = parseStateKey(key);
        const event = events.get(eventId);
        return { type, state_key: stateKey, event_id: eventId, sender: String(event?.pdu.sender ?? ""), content: event?.pdu.content ?? {} };
      }).sort((a, b) => a.type.localeCompare(b.type) || a.state_key.localeCompare(b.state_key)),
      members: members.map((m) => ({ user_id: m.userId, membership: m.membership })),
      servers: [...(await hs.stores.state.currentJoinedHosts(input.room_id))].sort(),
      forward_extremities: await hs.stores.events.getForwardExtremities(input.room_id),
    };
  }),

  messages: engineProcedure
    .input(z.object({ room_id: roomId, limit: z.number().int().min(1).max(1000).default(50) }))
    .query(async ({ ctx: { hs }, input }) => {
      if ((await hs.stores.rooms.getRoomVersion(input.room_id)) === null) throw notFound(`Unknown room ${input.room_id}`);
      await withBackfill(
        async () => (await hs.stores.events.getRoomMessages(input.room_id, input.limit)).length,
        () => hs.rooms.federationEvents.backfill(input.room_id, input.limit),
        input.limit,
      );
      const events = await hs.stores.events.getRoomMessages(input.room_id, input.limit);
      return {
        events: events.map((e) => ({
          event_id: e.eventId,
          type: e.pdu.type,
          sender: String(e.pdu.sender ?? ""),
          state_key: typeof e.pdu.state_key === "string" ? e.pdu.state_key : null,
          content: e.pdu.content,
          origin_server_ts: typeof e.pdu.origin_server_ts === "number" ? e.pdu.origin_server_ts : 0,
          depth: e.depth,
          stream_ordering: e.streamOrdering,
        })),
      };
    }),
});
