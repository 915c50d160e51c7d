/** Shared pieces for the replication tests: a loopback replication HTTP server, waiting, and row collection. */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Router } from "../../server/http/router";
import { createLogger } from "../../server/log";
import type { ReplicationDataHandler, RowBatch } from "../../server/replication/data-handler";
import { registerReplicationRoutes } from "../../server/replication/http-updates";
import type { StreamDefinition, StreamWriter } from "../../server/replication/streams";
import { waitUntil } from "../support/wait";

export const log = createLogger("error");
export const SECRET = "a-replication-secret-for-tests";

/** A channel (server name) no other test uses, so tests never hear each other on the shared Redis. */
export const uniqueServerName = () => `replication-test-${randomBytes(6).toString("hex")}.test`;

export interface ReplicationServer {
  port: number;
  /** request URIs, in order */
  requests: string[];
  close(): Promise<void>;
}

/** Serves get_repl_stream_updates for `writers` on 127.0.0.1, as process `instanceName`. */
export async function startReplicationServer(writers: readonly StreamWriter[], instanceName: string): Promise<ReplicationServer> {
  const router = new Router(log);
  registerReplicationRoutes(router, writers, SECRET, instanceName);
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? "");
    void router.handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export const waitFor = (what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> =>
  waitUntil(what, predicate, { timeoutMs, intervalMs: 5 });

/** Every batch the data handler hands to a handler of `stream`, positions-only batches included. */
export function collect<R>(dataHandler: ReplicationDataHandler, stream: StreamDefinition<R>): RowBatch<R>[] {
  const batches: RowBatch<R>[] = [];
  dataHandler.register(stream, (batch) => {
    batches.push(batch);
  });
  return batches;
}

/** The rows of batches that carried rows, flattened with their tokens. */
export const rowsOf = <R>(batches: RowBatch<R>[]) => batches.flatMap((b) => b.rows.map((row) => [b.token, row] as const));
