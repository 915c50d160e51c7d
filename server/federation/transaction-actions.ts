/**
 * Idempotency of received transactions (Synapse: TransactionActions + the per-origin lock of
 * FederationServer.on_incoming_transaction): the same (origin, txnId) again gets the stored response, a retry
 * arriving while the first is still processing waits for its answer, and another txnId from an origin whose
 * transaction is still processing is refused with 429 so one peer cannot run transactions in parallel.
 */
import { limitExceeded } from "../http/matrix-error";
import type { InboundStore } from "../store/inbound-store";

export interface TransactionResponse {
  code: number;
  body: unknown;
}

/** Stored responses are kept this long (Synapse keeps them a day). */
export const TRANSACTION_RESPONSE_TTL_MS = 24 * 3600 * 1000;

export class TransactionActions {
  private readonly active = new Map<string, { txnId: string; result: Promise<TransactionResponse> }>();

  constructor(private readonly store: InboundStore, private readonly now: () => number = Date.now) {}

  /**
   * Runs `process` for a new (origin, txnId) at most once; `process` must store its response before returning
   * (so a crash in between leaves the transaction unanswered and the sender retries it).
   */
  async run(origin: string, txnId: string, process: () => Promise<TransactionResponse>): Promise<TransactionResponse> {
    const current = this.active.get(origin);
    if (current) {
      if (current.txnId === txnId) return current.result;
      throw limitExceeded(`A transaction from ${origin} is still being processed`, 1000);
    }
    const result = (async () => {
      const stored = await this.store.getTransaction(origin, txnId);
      if (stored && this.now() - stored.receivedTs < TRANSACTION_RESPONSE_TTL_MS) {
        return { code: stored.responseCode, body: JSON.parse(stored.responseJson) as unknown };
      }
      return process();
    })();
    this.active.set(origin, { txnId, result });
    try {
      return await result;
    } finally {
      this.active.delete(origin);
    }
  }
}
