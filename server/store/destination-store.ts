/**
 * Remote servers we federate with (table destinations): retry timings and how far each got in the events stream.
 * Timing writes follow Synapse's upsert rule: timings are only overwritten by a reset (interval 0) or by a longer
 * interval, so two processes cannot race a reset away or shorten each other's backoff.
 */
import { Prisma, type PrismaClient } from "./generated/client";

export interface RetryTimings {
  /** when the last failed attempt was made (0: not failing) */
  retryLastTs: number;
  /** how long after retryLastTs the next attempt may be made (0: not failing) */
  retryInterval: number;
  /** when the current run of failures began, or null */
  failureTs: number | null;
}

export const NOT_FAILING: RetryTimings = { retryLastTs: 0, retryInterval: 0, failureTs: null };

export interface DestinationRow extends RetryTimings {
  destination: string;
  /** stream_ordering of the newest PDU the destination acknowledged, or null when none has been yet */
  lastSuccessfulStreamOrdering: number | null;
}

/** Synapse's DestinationSortOrder: the columns the admin API may order by. */
export const DESTINATION_SORT_COLUMNS = ["destination", "retry_last_ts", "retry_interval", "failure_ts", "last_successful_stream_ordering"] as const;
export type DestinationSortColumn = (typeof DESTINATION_SORT_COLUMNS)[number];

export interface DestinationPageQuery {
  start: number;
  limit: number;
  /** case-insensitive substring of the name */
  search?: string;
  orderBy: DestinationSortColumn;
  direction: "f" | "b";
}

/** Sort keys of the console's listing: stored columns, and live figures of the sending process's queues. */
export const DESTINATION_LIST_ORDERS = [
  "destination", "state", "next_retry_ts", "retry_last_ts", "retry_interval", "failure_ts", "last_successful_stream_ordering",
  "last_success_ts", "pending_pdus", "pending_edus", "in_flight_since", "last_error_ts",
] as const;
export type DestinationListOrder = (typeof DESTINATION_LIST_ORDERS)[number];

/** What only the sending process knows of a destination (its queue), to sort and filter along with stored rows. */
export interface LiveDestination {
  destination: string;
  state: string;
  pendingPdus: number;
  pendingEdus: number;
  inFlightSince: number | null;
  lastSuccessTs: number | null;
  lastErrorTs: number | null;
}

export interface DestinationListFilter {
  /** case-insensitive substring of the name */
  search?: string;
  state?: string;
}

export interface DestinationListQuery extends DestinationListFilter {
  orderBy: DestinationListOrder;
  direction: "f" | "b";
  start: number;
  limit: number;
  /** the order of a sort by state (most in need of attention first) */
  stateOrder: readonly string[];
}

export interface DestinationOverviewRow extends DestinationRow {
  /** rooms whose PDUs the destination should have */
  roomCount: number;
  /** the newest stream_ordering among those rooms, or null */
  newestRoomStreamOrdering: number | null;
}

type RawDestination = {
  destination: string;
  retry_last_ts: bigint | null;
  retry_interval: bigint | null;
  failure_ts: bigint | null;
  last_successful_stream_ordering: bigint | null;
};

const num = (v: bigint | null | undefined): number | null => (v === null || v === undefined ? null : Number(v));

function toRow(r: RawDestination): DestinationRow {
  return {
    destination: r.destination,
    retryLastTs: num(r.retry_last_ts) ?? 0,
    retryInterval: num(r.retry_interval) ?? 0,
    failureTs: num(r.failure_ts),
    lastSuccessfulStreamOrdering: num(r.last_successful_stream_ordering),
  };
}

/** A LIKE pattern matching `text` literally anywhere (Synapse lower-cases both sides). */
function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class DestinationStore {
  constructor(private readonly prisma: PrismaClient) {}

  async getRetryTimings(destination: string): Promise<RetryTimings | null> {
    const r = await this.prisma.destination.findUnique({ where: { destination } });
    if (!r) return null;
    return { retryLastTs: Number(r.retryLastTs ?? 0n), retryInterval: Number(r.retryInterval ?? 0n), failureTs: r.failureTs === null ? null : Number(r.failureTs) };
  }

  /** Stores timings under the upsert rule; returns whether they were written. */
  async setRetryTimings(destination: string, t: RetryTimings): Promise<boolean> {
    const written = await this.prisma.$executeRaw`
      INSERT INTO destinations (destination, retry_last_ts, retry_interval, failure_ts)
      VALUES (${destination}, ${BigInt(t.retryLastTs)}, ${BigInt(t.retryInterval)}, ${t.failureTs === null ? null : BigInt(t.failureTs)})
      ON CONFLICT (destination) DO UPDATE SET
        retry_last_ts = EXCLUDED.retry_last_ts,
        retry_interval = EXCLUDED.retry_interval,
        failure_ts = EXCLUDED.failure_ts
      WHERE EXCLUDED.retry_interval = 0
        OR destinations.retry_interval IS NULL
        OR destinations.retry_interval < EXCLUDED.retry_interval`;
    return written > 0;
  }

  /** The destination's row, or null when we never federated with it (Synapse's is_destination_known). */
  async getDestination(destination: string): Promise<DestinationRow | null> {
    const rows = await this.prisma.$queryRaw<RawDestination[]>`
      SELECT destination, retry_last_ts, retry_interval, failure_ts, last_successful_stream_ordering
      FROM destinations WHERE destination = ${destination}`;
    return rows[0] ? toRow(rows[0]) : null;
  }

  async getLastSuccessfulStreamOrdering(destination: string): Promise<number | null> {
    const r = await this.prisma.destination.findUnique({ where: { destination }, select: { lastSuccessfulStreamOrdering: true } });
    return num(r?.lastSuccessfulStreamOrdering);
  }

  /**
   * Records how far destinations got, many at once. A position never moves backwards, so a write that arrives
   * late (they are batched) cannot undo a newer one. Rows are locked in name order (see storeEntries).
   */
  async setLastSuccessfulStreamOrderings(positions: ReadonlyMap<string, number>): Promise<void> {
    if (positions.size === 0) return;
    const destinations = [...positions.keys()];
    const orderings = destinations.map((d) => BigInt(positions.get(d)!));
    await this.prisma.$executeRaw`
      INSERT INTO destinations (destination, last_successful_stream_ordering)
      SELECT * FROM unnest(${destinations}::text[], ${orderings}::bigint[]) AS p(destination, ordering) ORDER BY destination
      ON CONFLICT (destination) DO UPDATE SET last_successful_stream_ordering =
        GREATEST(COALESCE(destinations.last_successful_stream_ordering, EXCLUDED.last_successful_stream_ordering), EXCLUDED.last_successful_stream_ordering)`;
  }

  /** One page of destinations as Synapse's admin API lists them (get_destinations_paginate). */
  async paginate(q: DestinationPageQuery): Promise<{ rows: DestinationRow[]; total: number }> {
    const where = q.search ? `WHERE LOWER(destination) LIKE $1` : "";
    const args: unknown[] = q.search ? [containsPattern(q.search)] : [];
    // order_by is one of DESTINATION_SORT_COLUMNS (checked by the caller's schema), never free text.
    if (!DESTINATION_SORT_COLUMNS.includes(q.orderBy)) throw new Error(`cannot order destinations by ${q.orderBy}`);
    const order = q.direction === "b" ? "DESC" : "ASC";
    const [count] = await this.prisma.$queryRawUnsafe<{ total: bigint }[]>(`SELECT COUNT(*) AS total FROM destinations ${where}`, ...args);
    const rows = await this.prisma.$queryRawUnsafe<RawDestination[]>(
      `SELECT destination, retry_last_ts, retry_interval, failure_ts, last_successful_stream_ordering FROM destinations ${where}
       ORDER BY ${q.orderBy} ${order}, destination ASC LIMIT ${Math.trunc(q.limit)} OFFSET ${Math.trunc(q.start)}`,
      ...args,
    );
    return { rows: rows.map(toRow), total: Number(count?.total ?? 0n) };
  }

  /**
   * One page of the console's listing: stored rows merged with `live` (what the sending process knows that the
   * table does not), searched, filtered by state, sorted and paged by PostgreSQL, with the number of matching
   * destinations in each state. Live destinations take the place of their stored rows; they may have none yet.
   */
  async listPage(q: DestinationListQuery, live: readonly LiveDestination[]): Promise<{ rows: DestinationOverviewRow[]; counts: Map<string, number> }> {
    const listed = listedDestinations(q.search, live);
    const stateFilter = q.state === undefined ? Prisma.empty : Prisma.sql`WHERE state = ${q.state}`;
    const [counts, page] = await Promise.all([
      this.prisma.$queryRaw<{ state: string; n: bigint }[]>`WITH ${listed} SELECT state, COUNT(*) AS n FROM listed GROUP BY state`,
      this.prisma.$queryRaw<RawListed[]>`
        WITH ${listed} SELECT * FROM listed ${stateFilter}
        ORDER BY ${listOrder(q.orderBy, q.direction, q.stateOrder)} LIMIT ${Math.trunc(q.limit)} OFFSET ${Math.trunc(q.start)}`,
    ]);
    const roomCounts = await this.roomCounts(page.map((r) => r.destination));
    return {
      rows: page.map((r) => ({ ...toOverviewRow(r), roomCount: roomCounts.get(r.destination) ?? 0 })),
      counts: new Map(counts.map((c) => [c.state, Number(c.n)])),
    };
  }

  /** Every destination of the listing matching `filter`, by name (bulk actions on a filter). */
  async listNames(filter: DestinationListFilter, live: readonly LiveDestination[]): Promise<string[]> {
    const stateFilter = filter.state === undefined ? Prisma.empty : Prisma.sql`WHERE state = ${filter.state}`;
    const rows = await this.prisma.$queryRaw<{ destination: string }[]>`
      WITH ${listedDestinations(filter.search, live)} SELECT destination FROM listed ${stateFilter} ORDER BY destination`;
    return rows.map((r) => r.destination);
  }

  /** The stored rows of these destinations, with their rooms unless told not to count them (missing rows are left out). */
  async overviewRows(destinations: readonly string[], { withRoomCounts = true } = {}): Promise<DestinationOverviewRow[]> {
    if (destinations.length === 0) return [];
    const [rows, roomCounts] = await Promise.all([
      this.prisma.$queryRaw<RawOverview[]>`
        SELECT destination, retry_last_ts, retry_interval, failure_ts, last_successful_stream_ordering, newest_room_stream_ordering
        FROM destinations WHERE destination = ANY(${destinations as string[]}::text[])`,
      withRoomCounts ? this.roomCounts(destinations) : new Map<string, number>(),
    ]);
    return rows.map((r) => ({ ...toOverviewRow(r), roomCount: roomCounts.get(r.destination) ?? 0 }));
  }

  /**
   * Clears the retry timings of those of `destinations` that have any, in one statement (bulk "retry now");
   * returns the ones cleared.
   */
  async clearRetryTimings(destinations: readonly string[]): Promise<string[]> {
    if (destinations.length === 0) return [];
    const rows = await this.prisma.$queryRaw<{ destination: string }[]>`
      UPDATE destinations SET retry_last_ts = 0, retry_interval = 0, failure_ts = NULL
      WHERE destination = ANY(${destinations as string[]}::text[])
        AND (COALESCE(retry_interval, 0) > 0 OR COALESCE(retry_last_ts, 0) > 0 OR failure_ts IS NOT NULL)
      RETURNING destination`;
    return rows.map((r) => r.destination);
  }

  private async roomCounts(destinations: readonly string[]): Promise<Map<string, number>> {
    if (destinations.length === 0) return new Map();
    const rows = await this.prisma.$queryRaw<{ destination: string; n: bigint }[]>`
      SELECT destination, COUNT(*) AS n FROM destination_rooms WHERE destination = ANY(${destinations as string[]}::text[]) GROUP BY destination`;
    return new Map(rows.map((r) => [r.destination, Number(r.n)]));
  }
}

type RawOverview = RawDestination & { newest_room_stream_ordering: bigint | null };
type RawListed = RawOverview & { state: string };

function toOverviewRow(r: RawOverview): Omit<DestinationOverviewRow, "roomCount"> {
  return { ...toRow(r), newestRoomStreamOrdering: num(r.newest_room_stream_ordering) };
}

/**
 * A destination's state as its row alone tells it: describeDestination's rule for a destination with no live
 * queue. In SQL, so 100,000 rows are counted, filtered and sorted by it without leaving PostgreSQL.
 */
const STORED_STATE = Prisma.sql`CASE
  WHEN COALESCE(d.retry_interval, 0) > 0 THEN 'backing_off'
  WHEN d.newest_room_stream_ordering > COALESCE(d.last_successful_stream_ordering, 0) THEN 'catching_up'
  WHEN d.last_successful_stream_ordering IS NULL AND d.failure_ts IS NULL THEN 'never_contacted'
  ELSE 'healthy' END`;

/**
 * The CTEs `live` and `listed`: the stored destinations that are not live, and the live ones, matching `search`,
 * with the columns the listing sorts by. Live figures of stored-only rows are NULL/0: they have no queue here.
 */
function listedDestinations(search: string | undefined, live: readonly LiveDestination[]): Prisma.Sql {
  const pattern = search ? containsPattern(search) : null;
  const column = <T>(pick: (l: LiveDestination) => T) => live.map(pick);
  const big = (v: number | null) => (v === null ? null : BigInt(v));
  return Prisma.sql`
    live AS (
      SELECT * FROM unnest(
        ${column((l) => l.destination)}::text[], ${column((l) => l.state)}::text[], ${column((l) => l.pendingPdus)}::int[],
        ${column((l) => l.pendingEdus)}::int[], ${column((l) => big(l.inFlightSince))}::bigint[],
        ${column((l) => big(l.lastSuccessTs))}::bigint[], ${column((l) => big(l.lastErrorTs))}::bigint[]
      ) AS l(destination, state, pending_pdus, pending_edus, in_flight_since, last_success_ts, last_error_ts)
    ),
    listed AS (
      SELECT * FROM (
        SELECT d.destination, ${STORED_STATE} AS state, d.retry_last_ts, d.retry_interval, d.failure_ts,
          d.last_successful_stream_ordering, d.newest_room_stream_ordering,
          0 AS pending_pdus, 0 AS pending_edus, NULL::bigint AS in_flight_since, NULL::bigint AS last_success_ts, NULL::bigint AS last_error_ts
        FROM destinations d WHERE NOT EXISTS (SELECT 1 FROM live l WHERE l.destination = d.destination)
        UNION ALL
        SELECT l.destination, l.state, d.retry_last_ts, d.retry_interval, d.failure_ts,
          d.last_successful_stream_ordering, d.newest_room_stream_ordering,
          l.pending_pdus, l.pending_edus, l.in_flight_since, l.last_success_ts, l.last_error_ts
        FROM live l LEFT JOIN destinations d USING (destination)
      ) u
      WHERE ${pattern}::text IS NULL OR LOWER(destination) LIKE ${pattern}
    )`;
}

/** The sort key of each order; 0 and NULL mean "none" and sort last both ways, then the name breaks ties. */
const ORDER_KEYS: Record<Exclude<DestinationListOrder, "destination" | "state">, string> = {
  next_retry_ts: "CASE WHEN COALESCE(retry_interval, 0) > 0 THEN retry_last_ts + retry_interval END",
  retry_last_ts: "NULLIF(retry_last_ts, 0)",
  retry_interval: "NULLIF(retry_interval, 0)",
  failure_ts: "failure_ts",
  last_successful_stream_ordering: "last_successful_stream_ordering",
  last_success_ts: "last_success_ts",
  pending_pdus: "NULLIF(pending_pdus, 0)",
  pending_edus: "NULLIF(pending_edus, 0)",
  in_flight_since: "in_flight_since",
  last_error_ts: "last_error_ts",
};

function listOrder(orderBy: DestinationListOrder, direction: "f" | "b", stateOrder: readonly string[]): Prisma.Sql {
  const dir = Prisma.raw(direction === "b" ? "DESC" : "ASC");
  if (orderBy === "destination") return Prisma.sql`destination ${dir}`;
  const key = orderBy === "state" ? Prisma.sql`array_position(${stateOrder as string[]}::text[], state)` : Prisma.raw(ORDER_KEYS[orderBy]);
  return Prisma.sql`${key} ${dir} NULLS LAST, destination ASC`;
}
