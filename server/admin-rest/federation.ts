/**
 * Synapse's federation admin API (docs/usage/administration/admin_api/federation.md), same paths, parameters,
 * fields and errors, so synapse-admin and operators' scripts work unchanged:
 *   GET  /_synapse/admin/v1/federation/destinations
 *   GET  /_synapse/admin/v1/federation/destinations/{destination}
 *   GET  /_synapse/admin/v1/federation/destinations/{destination}/rooms
 *   POST /_synapse/admin/v1/federation/destinations/{destination}/reset_connection
 */
import { MatrixError, invalidParam, notFound } from "../http/matrix-error";
import type { Authenticator, Router } from "../http/router";
import type { FederationSender } from "../federation/sender";
import type { DestinationRoomStore } from "../store/destination-room-store";
import { DESTINATION_SORT_COLUMNS, type DestinationRow, type DestinationSortColumn, type DestinationStore } from "../store/destination-store";

const BASE = "/_synapse/admin/v1/federation/destinations";

export interface FederationAdminApiOptions {
  destinations: DestinationStore;
  destinationRooms: DestinationRoomStore;
  sender: Pick<FederationSender, "reset">;
  authenticate: Authenticator<unknown>;
}

export function registerFederationAdminApi(router: Router, o: FederationAdminApiOptions): void {
  const { authenticate } = o;

  router.add("GET", BASE, { authenticate }, async ({ query }) => {
    const start = integerParam(query, "from", 0);
    const limit = integerParam(query, "limit", 100);
    const orderBy = choiceParam(query, "order_by", DESTINATION_SORT_COLUMNS, "destination") as DestinationSortColumn;
    const direction = choiceParam(query, "dir", ["f", "b"], "f") as "f" | "b";
    const search = query.get("destination") || undefined;
    const { rows, total } = await o.destinations.paginate({ start, limit, search, orderBy, direction });
    return {
      body: {
        destinations: rows.map(destinationJson),
        total,
        ...(start + limit < total ? { next_token: String(start + rows.length) } : {}),
      },
    };
  });

  router.add("GET", `${BASE}/:destination`, { authenticate }, async ({ params }) => {
    const row = await o.destinations.getDestination(params.destination!);
    if (!row) throw notFound("Unknown destination");
    return { body: destinationJson(row) };
  });

  router.add("GET", `${BASE}/:destination/rooms`, { authenticate }, async ({ params, query }) => {
    const destination = params.destination!;
    if (!(await o.destinations.getDestination(destination))) throw notFound("Unknown destination");
    const start = integerParam(query, "from", 0);
    const limit = integerParam(query, "limit", 100);
    const direction = choiceParam(query, "dir", ["f", "b"], "f") as "f" | "b";
    const { rooms, total } = await o.destinationRooms.paginateRooms(destination, start, limit, direction);
    return {
      body: {
        rooms: rooms.map((r) => ({ room_id: r.roomId, stream_ordering: r.streamOrdering })),
        total,
        ...(start + limit < total ? { next_token: String(start + rooms.length) } : {}),
      },
    };
  });

  router.add("POST", `${BASE}/:destination/reset_connection`, { authenticate }, async ({ params }) => {
    const result = await o.sender.reset(params.destination!);
    if (result === "unknown") throw notFound("Unknown destination");
    if (result === "not_failing") throw new MatrixError(400, "M_UNKNOWN", "The retry timing does not need to be reset for this destination.");
    return { body: {} };
  });
}

/** Synapse's shape: retry_last_ts and retry_interval are 0 when not failing. */
function destinationJson(r: DestinationRow) {
  return {
    destination: r.destination,
    retry_last_ts: r.retryLastTs,
    retry_interval: r.retryInterval,
    failure_ts: r.failureTs,
    last_successful_stream_ordering: r.lastSuccessfulStreamOrdering,
  };
}

/** Synapse's parse_integer: a non-negative integer, or the default when absent. */
function integerParam(query: URLSearchParams, name: string, fallback: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  if (!/^-?\d+$/.test(raw)) throw invalidParam(`Query parameter '${name}' must be an integer.`);
  const value = Number(raw);
  if (value < 0) throw invalidParam(`Query parameter '${name}' must be a non-negative integer.`);
  if (!Number.isSafeInteger(value)) throw invalidParam(`Query parameter '${name}' is too large.`);
  return value;
}

/** Synapse's parse_string with allowed_values. */
function choiceParam(query: URLSearchParams, name: string, allowed: readonly string[], fallback: string): string {
  const raw = query.get(name);
  if (raw === null) return fallback;
  if (!allowed.includes(raw)) throw invalidParam(`Query parameter '${name}' must be one of [${allowed.map((v) => `'${v}'`).join(", ")}]`);
  return raw;
}
