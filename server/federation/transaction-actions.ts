/**
 * Idempotency of received transactions (Synapse: TransactionActions + the per-origin lock of
 * FederationServer.on_incoming_transaction): the same (origin, txnId) again gets the stored response, a retry
 * arriving while the first is still processing waits for its answer, and another txnId from an origin whose
 * transaction is still processing is refused with 429 so one peer cannot run transactions in parallel.
 *
 * Responses are kept in memory for recent transactions and written to the database in batches. A crash can lose
 * the last few tens of milliseconds of records; the sender then retries and the transaction is processed again,
 * which is harmless: staging ignores PDUs already staged and every EDU handler is idempotent.
 */
import { limitExceeded } from "../http/matrix-error";
import type { Logger } from "../http/router";
import { BatchWriter } from "../store/batch-writer";
import type { InboundStore, LoggedEdu, ReceivedTransactionRow } from "../store/inbound-store";

export interface TransactionResponse {
  code: number;
  body: unknown;
}

/** What processing a transaction produced: its response, and what to log about it. */
export interface ProcessedTransaction {
  response: TransactionResponse;
  pduCount: number;
  eduCount: number;
  edus: LoggedEdu[];
}

/** Stored responses are kept this long (Synapse keeps them a day). */
export const TRANSACTION_RESPONSE_TTL_MS = 24 * 3600 * 1000;
/** Recent responses answered from memory without a database read. */
const RECENT_RESPONSES = 10_000;

export class TransactionActions {
  private readonly active = new Map<string, { txnId: string; result: Promise<TransactionResponse> }>();
  private readonly recent = new Map<string, { response: TransactionResponse; receivedTs: number }>();
  private readonly writer: BatchWriter<{ transaction: ReceivedTransactionRow; edus: LoggedEdu[] }>;

  constructor(private readonly store: InboundStore, log: Logger, private readonly now: () => number = Date.now) {
    this.writer = new BatchWriter({
      write: (batch) => store.recordTransactions(batch),
      onError: (e, rows) => log.warn("could not record received transactions", { rows, error: e.message }),
    });
  }

  /** Runs `process` for a new (origin, txnId) at most once, and records its response. */
  async run(origin: string, txnId: string, process: () => Promise<ProcessedTransaction>): Promise<TransactionResponse> {
    const current = this.active.get(origin);
    if (current) {
      if (current.txnId === txnId) return current.result;
      throw limitExceeded(`A transaction from ${origin} is still being processed`, 1000);
    }
    const result = this.answer(origin, txnId, process);
    this.active.set(origin, { txnId, result });
    try {
      return await result;
    } finally {
      this.active.delete(origin);
    }
  }

  /** Writes out the records still queued (at shutdown, and in tests). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  private async answer(origin: string, txnId: string, process: () => Promise<ProcessedTransaction>): Promise<TransactionResponse> {
    const key = `${origin} ${txnId}`;
    const now = this.now();
    const remembered = this.recent.get(key);
    if (remembered && now - remembered.receivedTs < TRANSACTION_RESPONSE_TTL_MS) return remembered.response;
    const stored = remembered ? null : await this.store.getTransaction(origin, txnId);
    if (stored && now - stored.receivedTs < TRANSACTION_RESPONSE_TTL_MS) {
      return { code: stored.responseCode, body: JSON.parse(stored.responseJson) as unknown };
    }
    const processed = await process();
    this.remember(key, processed.response, now);
    this.writer.add({
      transaction: {
        origin, transactionId: txnId, responseCode: processed.response.code, responseJson: JSON.stringify(processed.response.body),
        pduCount: processed.pduCount, eduCount: processed.eduCount, receivedTs: now,
      },
      edus: processed.edus,
    });
    return processed.response;
  }

  private remember(key: string, response: TransactionResponse, receivedTs: number): void {
    this.recent.delete(key);
    if (this.recent.size >= RECENT_RESPONSES) this.recent.delete(this.recent.keys().next().value!);
    this.recent.set(key, { response, receivedTs });
  }
}
