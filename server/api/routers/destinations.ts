/**
 * `destinations.*`: the servers we send to, as the console shows them (state, retry countdown, queue depth, why it
 * failed) and the operator's actions on them (retry now, reset, forget discovery). List and get combine the
 * stored timings with this process's live queues.
 */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { DESTINATION_STATES } from "../../federation/sender/destination-status";
import { DESTINATION_LIST_ORDERS } from "../../store/destination-store";
import { adminProcedure, createTRPCRouter } from "../trpc";

const destinationName = z.string().trim().min(1).max(255);
/** An opaque position in a listing (an offset, as Synapse's next_token). */
const cursor = z.string().regex(/^\d{1,9}$/, "expected a cursor from a previous page");
const filter = { state: z.enum(DESTINATION_STATES).optional(), search: z.string().trim().max(255).optional() };
/** Bulk retry acts on at most this many at once: each woken queue reads the database before it sends. */
export const MAX_BULK_RETRY = 10_000;

export const destinationsRouter = createTRPCRouter({
  /**
   * One page of destinations with their state and live queue, how many match in each state, and the server's
   * clock (`now`) for countdowns. Paged, sorted and filtered by PostgreSQL (see FederationSender.listDestinations).
   */
  list: adminProcedure
    .input(z.object({
      ...filter,
      order_by: z.enum(DESTINATION_LIST_ORDERS).default("destination"),
      dir: z.enum(["f", "b"]).default("f"),
      cursor: cursor.optional(),
      limit: z.number().int().min(1).max(1000).default(100),
    }).default({ order_by: "destination", dir: "f", limit: 100 }))
    .query(async ({ ctx: { hs }, input }) => {
      const start = input.cursor ? Number(input.cursor) : 0;
      const { destinations, counts, total } = await hs.sender.listDestinations({
        search: input.search || undefined, state: input.state, orderBy: input.order_by, direction: input.dir, start, limit: input.limit,
      });
      const next = start + destinations.length;
      return { destinations, total, counts, next_cursor: next < total ? String(next) : null, now: Date.now() };
    }),

  get: adminProcedure
    .input(z.object({ destination: destinationName }))
    .query(async ({ ctx: { hs }, input }) => {
      const status = await hs.sender.destinationStatus(input.destination);
      if (!status) throw new TRPCError({ code: "NOT_FOUND", message: `unknown destination ${input.destination}` });
      const outbox = await hs.stores.deviceOutbox.pendingCounts(input.destination);
      return { ...status, pending_to_device: outbox.toDevice, pending_device_list_updates: outbox.deviceLists, now: Date.now() };
    }),

  transactions: adminProcedure
    .input(z.object({ destination: destinationName, limit: z.number().int().min(1).max(500).default(50) }))
    .query(async ({ ctx: { hs }, input }) => {
      const rows = await hs.stores.sentTransactions.recent(input.destination, input.limit);
      return rows.map((t) => ({
        transaction_id: t.transactionId, destination: t.destination, pdu_count: t.pduCount, edu_count: t.eduCount,
        started_ts: t.startedTs, duration_ms: t.durationMs, outcome: t.outcome, error: t.error, instance_name: t.instanceName,
      }));
    }),

  rooms: adminProcedure
    .input(z.object({ destination: destinationName, cursor: cursor.optional(), limit: z.number().int().min(1).max(1000).default(100) }))
    .query(async ({ ctx: { hs }, input }) => {
      const start = input.cursor ? Number(input.cursor) : 0;
      const { rooms, total } = await hs.stores.destinationRooms.paginateRooms(input.destination, start, input.limit, "f");
      const next = start + rooms.length;
      return {
        rooms: rooms.map((r) => ({ room_id: r.roomId, stream_ordering: r.streamOrdering })),
        total,
        next_cursor: next < total ? String(next) : null,
      };
    }),

  retryNow: adminProcedure
    .input(z.object({ destination: destinationName }))
    .mutation(async ({ ctx: { hs }, input }) => {
      const r = await hs.sender.retryNow(input.destination);
      return { destination: r.destination, owner: r.owner, was_backing_off: r.wasBackingOff, woken: r.woken };
    }),

  /** Retry now for the named destinations, or for every destination matching a filter (state and/or search). */
  retryMany: adminProcedure
    .input(z.union([
      z.object({ destinations: z.array(destinationName).min(1).max(MAX_BULK_RETRY) }).strict(),
      z.object(filter).strict(),
    ]))
    .mutation(async ({ ctx: { hs }, input }) => {
      const names = "destinations" in input
        ? [...new Set(input.destinations)]
        : await hs.sender.destinationNames({ state: input.state, search: input.search || undefined });
      if (names.length > MAX_BULK_RETRY) {
        throw new TRPCError({ code: "BAD_REQUEST", message: `${names.length} destinations match; retry at most ${MAX_BULK_RETRY} at once (narrow the filter)` });
      }
      const r = await hs.sender.retryMany(names);
      return { destinations: r.destinations, was_backing_off: r.wasBackingOff, woken: r.woken };
    }),

  reset: adminProcedure
    .input(z.object({ destination: destinationName }))
    .mutation(async ({ ctx: { hs }, input }) => {
      const result = await hs.sender.reset(input.destination);
      if (result === "unknown") throw new TRPCError({ code: "NOT_FOUND", message: `unknown destination ${input.destination}` });
      if (result === "not_failing") throw new TRPCError({ code: "BAD_REQUEST", message: "The retry timing does not need to be reset for this destination." });
      return { destination: input.destination, reset: true };
    }),

  /**
   * How the name resolves (override, .well-known delegation, SRV, ports), from the discovery cache when it holds
   * an answer; a name not cached is resolved now, as the next request to it would be.
   */
  discovery: adminProcedure
    .input(z.object({ destination: destinationName }))
    .query(async ({ ctx: { hs }, input }) => {
      try {
        const r = await hs.discovery.resolve(input.destination);
        return {
          ok: true as const,
          method: r.method,
          delegated_to: r.delegatedTo ?? null,
          scheme: r.scheme,
          targets: r.targets.map((t) => `${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`),
          host_header: r.hostHeader,
          tls_server_name: r.tlsServerName,
          steps: r.steps,
          well_known: r.wellKnown ? { outcome: r.wellKnown.outcome, server: r.wellKnown.server ?? null, reason: r.wellKnown.reason ?? null, from_cache: r.wellKnown.fromCache } : null,
          cached_until: r.cachedUntil,
        };
      } catch (e) {
        return { ok: false as const, error: (e as Error).message };
      }
    }),

  clearDiscoveryCache: adminProcedure
    .input(z.object({ destination: destinationName }))
    .mutation(({ ctx: { hs }, input }) => {
      hs.sender.clearDiscoveryCache(input.destination);
      return { destination: input.destination, cleared: true };
    }),
});
