/**
 * TransactionManager (Synapse's federation/sender/transaction_manager.py): builds transactions, sends them through
 * the transport client (which signs them, retries them on the long schedule and reports failures to the
 * destination's backoff), logs each attempt for the console, and reports per-PDU errors in the response.
 */
import type { JsonObject } from "../../crypto";
import type { Logger } from "../../http/router";
import type { FederationMetrics } from "../../metrics";
import type { SentTransactionRow } from "../../store/sent-transaction-store";
import type { TransactionBody, TransportLayerClient } from "../transport/client";
import type { Edu } from "./types";

/** A transaction built once and sent as is, with the same txnId, until a 2xx (spec: the txnId names the content). */
export interface PendingTransaction {
  txnId: string;
  destination: string;
  body: TransactionBody;
  /** event IDs of its PDUs, in order */
  pduIds: string[];
  eduTypes: string[];
}

/** A PDU and its event ID (which PDUs of room versions 3 and later do not carry). */
export interface OutgoingPdu {
  eventId: string;
  pdu: JsonObject;
}

export interface SendResult {
  /** PDUs the destination answered with an error (it still accepted the transaction) */
  pduErrors: Record<string, string>;
}

export interface TransactionManagerOptions {
  serverName: string;
  instanceName: string;
  transport: Pick<TransportLayerClient, "sendTransaction">;
  metrics: FederationMetrics;
  /** where each attempt's record goes (batched into sent_transactions) */
  recordSent: (row: SentTransactionRow) => void;
  log: Logger;
  now: () => number;
}

/** How many per-PDU errors are spelled out in the transaction log. */
const LOGGED_PDU_ERRORS = 5;

export class TransactionManager {
  /** IDs are `<start time>_<n>`: unique across restarts even when we sent faster than one per millisecond. */
  private readonly txnPrefix: string;
  private nextTxn = 1;

  constructor(private readonly o: TransactionManagerOptions) {
    this.txnPrefix = String(o.now());
  }

  newTransaction(destination: string, pdus: readonly OutgoingPdu[], edus: readonly Edu[]): PendingTransaction {
    return {
      txnId: `${this.txnPrefix}_${this.nextTxn++}`,
      destination,
      body: { origin: this.o.serverName, origin_server_ts: this.o.now(), pdus: pdus.map((p) => p.pdu), edus: [...edus] },
      pduIds: pdus.map((p) => p.eventId),
      eduTypes: edus.map((e) => e.edu_type),
    };
  }

  /** Sends until a 2xx or the transport gives up; throws its FederationRequestError then. */
  async send(txn: PendingTransaction): Promise<SendResult> {
    const { destination, txnId, body } = txn;
    const started = this.o.now();
    const record = (outcome: SentTransactionRow["outcome"], error: string | null) => this.o.recordSent({
      destination, transactionId: txnId, pduCount: body.pdus.length, eduCount: body.edus.length, startedTs: started,
      durationMs: Math.max(0, this.o.now() - started), outcome, error, instanceName: this.o.instanceName,
    });
    this.o.log.debug("sending transaction", { destination, txn: txnId, pdus: body.pdus.length, edus: body.edus.length });
    let response;
    try {
      response = await this.o.transport.sendTransaction(destination, txnId, body);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      record("failed", message);
      this.o.log.info("transaction failed", { destination, txn: txnId, error: message });
      throw e;
    }
    const pduErrors: Record<string, string> = {};
    for (const [eventId, result] of Object.entries(response.pdus)) {
      if (result.error !== undefined) pduErrors[eventId] = result.error;
    }
    const failedPdus = Object.entries(pduErrors);
    if (failedPdus.length > 0) {
      // Synapse logs these and moves on: the destination has the transaction; it rejected those events.
      this.o.log.warn("destination returned errors for PDUs", { destination, txn: txnId, errors: failedPdus.length, first: failedPdus[0]!.join(": ") });
      record("pdu_errors", failedPdus.slice(0, LOGGED_PDU_ERRORS).map(([id, err]) => `${id}: ${err}`).join("; "));
    } else {
      record("success", null);
    }
    this.o.metrics.sentTransactions.inc();
    if (txn.eduTypes.length > 0) {
      this.o.metrics.sentEdus.inc(txn.eduTypes.length);
      for (const type of txn.eduTypes) this.o.metrics.sentEdusByType.inc({ type });
    }
    return { pduErrors };
  }
}
