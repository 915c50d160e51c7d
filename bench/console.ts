/**
 * The console's destinations page at scale: 100,000 destinations (300,000 destination_rooms rows) in a
 * PostgreSQL test database, and the server time of `destinations.list` for a first page of 50 (through the tRPC
 * caller: input parsing, the live-queue merge, the per-state counts, the page and its room counts) sorted by each
 * column, filtered by state and searched. The baseline, in the same run on the same data: the bare
 * `SELECT ... ORDER BY ... LIMIT 50` a minimal admin page would send with pg, without counts or live data.
 */
import pg from "pg";
import { createCaller } from "../server/api/root";
import { DESTINATION_LIST_ORDERS, type DestinationListOrder } from "../server/store/destination-store";
import { startTestHomeServer } from "../tests/support/homeserver";
import { createTestDatabase } from "../tests/support/postgres";
import type { Benchmark, BenchRow } from "./harness";

const DESTINATIONS = 100_000;
const PAGE = 50;
const RUNS = 7;

/** A mix like a large server's: 1 in 10 backing off, 1 in 10 owed PDUs, 1 in 20 never contacted, the rest healthy. */
async function fill(client: pg.Client): Promise<void> {
  const now = Date.now();
  await client.query(`
    INSERT INTO destinations (destination, retry_last_ts, retry_interval, failure_ts, last_successful_stream_ordering)
    SELECT 'server' || i || '.example',
      CASE WHEN i % 10 = 0 THEN $1::bigint - (i % 3600) * 1000 ELSE 0 END,
      CASE WHEN i % 10 = 0 THEN 600000 * (1 + i % 7) ELSE 0 END,
      CASE WHEN i % 10 = 0 THEN $1::bigint - (i % 86400) * 1000 END,
      CASE WHEN i % 20 = 7 THEN NULL ELSE 10000 + i % 5000 END
    FROM generate_series(1, ${DESTINATIONS}) i`, [now]);
  await client.query(`
    INSERT INTO destination_rooms (destination, room_id, stream_ordering)
    SELECT 'server' || i || '.example', '!room' || r || ':bench.example', CASE WHEN i % 10 = 3 AND r = 1 THEN 20000 ELSE 9000 + r END
    FROM generate_series(1, ${DESTINATIONS}) i, generate_series(1, 3) r WHERE i % 20 <> 7`);
  // what DestinationRoomStore.storeEntries keeps up to date as entries are written
  await client.query(`
    UPDATE destinations d SET newest_room_stream_ordering = r.newest
    FROM (SELECT destination, MAX(stream_ordering) AS newest FROM destination_rooms GROUP BY destination) r WHERE r.destination = d.destination`);
  await client.query("VACUUM ANALYZE destinations");
  await client.query("ANALYZE destination_rooms");
}

/** The sort key of the bare query for the same page; null: by name alone (live figures are absent here). */
const BASELINE_KEY: Record<DestinationListOrder, string | null> = {
  destination: null,
  state: `CASE WHEN COALESCE(retry_interval, 0) > 0 THEN 1 WHEN newest_room_stream_ordering > COALESCE(last_successful_stream_ordering, 0) THEN 2
    WHEN last_successful_stream_ordering IS NULL AND failure_ts IS NULL THEN 3 ELSE 4 END`,
  next_retry_ts: "CASE WHEN retry_interval > 0 THEN retry_last_ts + retry_interval END",
  retry_last_ts: "NULLIF(retry_last_ts, 0)",
  retry_interval: "NULLIF(retry_interval, 0)",
  failure_ts: "failure_ts",
  last_successful_stream_ordering: "last_successful_stream_ordering",
  last_success_ts: null,
  pending_pdus: null,
  pending_edus: null,
  in_flight_since: null,
  last_error_ts: null,
};

function baselineOrder(order: DestinationListOrder, dir: "f" | "b"): string {
  const direction = dir === "b" ? "DESC" : "ASC";
  const key = BASELINE_KEY[order];
  return key === null ? `destination ${order === "destination" ? direction : "ASC"}` : `${key} ${direction} NULLS LAST, destination`;
}

async function medianMs(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await fn();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return Number(times[Math.floor(RUNS / 2)]!.toFixed(1));
}

const row = (figure: string, ours: number, baseline: number): BenchRow => ({
  figure, switchyard: ours, baseline, unit: "ms", ratio: Number((ours / baseline).toFixed(3)),
});

const consoleBench: Benchmark = async () => {
  const database = await createTestDatabase();
  const client = new pg.Client({ connectionString: database.url });
  // not a federation sender: nothing may send to (or back off from) the 100,000 invented names while we measure
  const server = await startTestHomeServer({ server_name: "bench.example", database: { url: database.url }, federation_sender_instances: ["elsewhere"] });
  try {
    await client.connect();
    const filled = performance.now();
    await fill(client);
    process.stderr.write(`console: ${DESTINATIONS} destinations written in ${(performance.now() - filled).toFixed(0)} ms\n`);
    const caller = createCaller({ hs: server.hs, authenticated: true });
    const baseline = (where: string, order: string, args: unknown[] = []) => () =>
      client.query(`SELECT destination, retry_last_ts, retry_interval, failure_ts, last_successful_stream_ordering FROM destinations ${where} ORDER BY ${order} LIMIT ${PAGE}`, args);

    const rows: BenchRow[] = [];
    for (const order of DESTINATION_LIST_ORDERS) {
      for (const dir of order === "destination" || order === "state" ? (["f", "b"] as const) : (["b"] as const)) {
        const ours = await medianMs(() => caller.destinations.list({ order_by: order, dir, limit: PAGE }));
        const theirs = await medianMs(baseline("", baselineOrder(order, dir)));
        rows.push(row(`destinations.list first page of ${PAGE} of ${DESTINATIONS} sorted by ${order} ${dir === "f" ? "ascending" : "descending"} (server ms)`, ours, theirs));
      }
    }
    rows.push(row(
      `destinations.list first page of ${PAGE}, state backing_off, sorted by failure_ts descending (server ms)`,
      await medianMs(() => caller.destinations.list({ state: "backing_off", order_by: "failure_ts", dir: "b", limit: PAGE })),
      await medianMs(baseline("WHERE retry_interval > 0", "failure_ts DESC NULLS LAST, destination")),
    ));
    rows.push(row(
      `destinations.list first page of ${PAGE}, search "server777" (server ms)`,
      await medianMs(() => caller.destinations.list({ search: "server777", limit: PAGE })),
      await medianMs(baseline("WHERE LOWER(destination) LIKE $1", "destination", ["%server777%"])),
    ));
    return rows;
  } finally {
    await client.end();
    await server.stop();
    await database.drop();
  }
};

export default consoleBench;
