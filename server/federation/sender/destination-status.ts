/**
 * A destination as the console shows it: its stored retry timings and progress joined with its live queue, and
 * one state that says what is going on (DESIGN §7).
 */
import type { DestinationOverviewRow } from "../../store/destination-store";
import type { LastFederationError } from "../transport/http-client";
import type { InFlightTransaction, QueueSnapshot } from "./destination-queue";

export const DESTINATION_STATES = ["healthy", "backing_off", "catching_up", "never_contacted", "stuck"] as const;
export type DestinationState = (typeof DESTINATION_STATES)[number];

/** Work waiting this long with nothing sent, while not backing off, makes a destination "stuck". */
export const STUCK_AFTER_MS = 5 * 60_000;

export interface DestinationStatus {
  destination: string;
  state: DestinationState;
  /** the federation sender instance that sends to it */
  owner: string;
  retry_last_ts: number;
  retry_interval: number;
  failure_ts: number | null;
  /** when the next attempt may be made, while backing off */
  next_retry_ts: number | null;
  last_successful_stream_ordering: number | null;
  room_count: number;
  pending_pdus: number;
  pending_edus: number;
  pending_edus_by_type: Record<string, number>;
  in_flight: { txn_id: string; pdus: number; edus: number; started_at: number } | null;
  catching_up: boolean;
  last_error: { at: number; error_class: string; message: string; status?: number; errcode?: string } | null;
  last_success_ts: number | null;
  work_waiting_since: number | null;
}

export function describeDestination(
  row: DestinationOverviewRow,
  queue: QueueSnapshot | null,
  transportError: LastFederationError | undefined,
  owner: string,
  now: number,
): DestinationStatus {
  const backingOff = row.retryInterval > 0;
  // Without a live queue, rooms newer than the last acknowledged PDU are what catch-up will send.
  const catchingUp = queue ? queue.catchingUp : row.newestRoomStreamOrdering !== null && row.newestRoomStreamOrdering > (row.lastSuccessfulStreamOrdering ?? 0);
  const hasWork = !!queue && (queue.pendingPdus > 0 || queue.pendingEduTotal > 0 || queue.inFlight !== null || queue.retainedTxnId !== null);
  const stuck = hasWork && !backingOff && queue!.workWaitingSince !== null && now - queue!.workWaitingSince > STUCK_AFTER_MS;
  const neverContacted = row.lastSuccessfulStreamOrdering === null && row.failureTs === null && !queue?.lastSuccessTs && !queue?.lastError;
  const state: DestinationState = backingOff ? "backing_off" : stuck ? "stuck" : catchingUp ? "catching_up" : neverContacted ? "never_contacted" : "healthy";
  const error = queue?.lastError ?? transportError;
  return {
    destination: row.destination,
    state,
    owner,
    retry_last_ts: row.retryLastTs,
    retry_interval: row.retryInterval,
    failure_ts: row.failureTs,
    next_retry_ts: backingOff ? row.retryLastTs + row.retryInterval : null,
    last_successful_stream_ordering: row.lastSuccessfulStreamOrdering,
    room_count: row.roomCount,
    pending_pdus: queue?.pendingPdus ?? 0,
    pending_edus: queue?.pendingEduTotal ?? 0,
    pending_edus_by_type: queue?.pendingEdus ?? {},
    in_flight: queue?.inFlight ? inFlightJson(queue.inFlight) : null,
    catching_up: catchingUp,
    last_error: error ? {
      at: error.at, error_class: error.errorClass, message: error.message,
      ...(error.status === undefined ? {} : { status: error.status }),
      ...(error.errcode === undefined ? {} : { errcode: error.errcode }),
    } : null,
    last_success_ts: queue?.lastSuccessTs ?? null,
    work_waiting_since: queue?.workWaitingSince ?? null,
  };
}

function inFlightJson(t: InFlightTransaction): NonNullable<DestinationStatus["in_flight"]> {
  return { txn_id: t.txnId, pdus: t.pdus, edus: t.edus, started_at: t.startedAt };
}
