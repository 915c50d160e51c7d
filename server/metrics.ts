/**
 * Prometheus metrics (prom-client) under Synapse's names, so existing Synapse dashboards and alerts work. Each
 * HomeServer has its own registry (no process-wide default), served at /_synapse/metrics and /metrics behind the
 * admin token.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Authenticator, Router } from "./http/router";

/** What the sender's queue gauges read when scraped. */
export interface QueueStats {
  /** destinations whose transmission loop is running */
  pendingDestinations: number;
  pendingPdus: number;
  pendingEdus: number;
}

export class FederationMetrics {
  readonly registry = new Registry();
  /** Synapse: synapse/metrics sent_transactions_counter */
  readonly sentTransactions: Counter;
  readonly sentEdus: Counter;
  readonly sentEdusByType: Counter<"type">;
  /** PDUs queued for sending to one or more destinations */
  readonly sentPduDestinationsCount: Counter;
  /** PDUs queued, summed over their destinations */
  readonly sentPduDestinations: Counter;
  readonly receivedPdus: Counter;
  readonly receivedEdus: Counter;
  private queueStats: () => QueueStats = () => ({ pendingDestinations: 0, pendingPdus: 0, pendingEdus: 0 });

  constructor() {
    const registers = [this.registry];
    const counter = (name: string, help: string) => new Counter({ name, help, registers });
    this.sentTransactions = counter("synapse_federation_client_sent_transactions_total", "Transactions sent and acknowledged with a 2xx");
    this.sentEdus = counter("synapse_federation_client_sent_edus_total", "Total number of EDUs successfully sent");
    this.sentEdusByType = new Counter({
      name: "synapse_federation_client_sent_edus_by_type_total", help: "Number of sent EDUs successfully sent, by event type", labelNames: ["type"], registers,
    });
    this.sentPduDestinationsCount = counter("synapse_federation_client_sent_pdu_destinations_count_total", "Number of PDUs queued for sending to one or more destinations");
    this.sentPduDestinations = counter("synapse_federation_client_sent_pdu_destinations_total", "Total number of PDUs queued for sending across all destinations");
    this.receivedPdus = counter("synapse_federation_server_received_pdus_total", "PDUs received in transactions");
    this.receivedEdus = counter("synapse_federation_server_received_edus_total", "EDUs received in transactions");
    const stats = () => this.queueStats();
    new Gauge({
      name: "synapse_federation_transaction_queue_pending_destinations", help: "Destinations with a transmission loop running", registers,
      collect() { this.set(stats().pendingDestinations); },
    });
    new Gauge({
      name: "synapse_federation_transaction_queue_pending_pdus", help: "PDUs waiting in per-destination queues", registers,
      collect() { this.set(stats().pendingPdus); },
    });
    new Gauge({
      name: "synapse_federation_transaction_queue_pending_edus", help: "EDUs waiting in per-destination queues", registers,
      collect() { this.set(stats().pendingEdus); },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** The federation sender reports its queues here (a process without a sender reports zeros). */
  observeQueues(stats: () => QueueStats): void {
    this.queueStats = stats;
  }

  /** Serves the metrics at Synapse's path and at /metrics, for requests the authenticator accepts. */
  register(router: Router, authenticate: Authenticator<unknown>): void {
    for (const path of ["/_synapse/metrics", "/metrics"]) {
      router.add("GET", path, { authenticate }, async () => ({
        body: Buffer.from(await this.registry.metrics(), "utf8"),
        headers: { "Content-Type": this.registry.contentType },
      }));
    }
  }
}
