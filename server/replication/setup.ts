/**
 * This process's replication, from the config: Redis when `redis` is set (scale-out), otherwise the in-process
 * bus (embedded mode; the same commands, no network). Also the read-only observers of other deployments.
 */
import type { Config } from "../config";
import type { Logger, Router } from "../http/router";
import { ReplicationHttpClient, makeHttpUpdateFunction, registerReplicationRoutes } from "./http-updates";
import { createObserver, createReplication, type Observer, type Replication } from "./index";
import { LocalBus } from "./local-bus";
import { RedisTransport } from "./redis";
import type { StreamWriter } from "./streams";

export interface ReplicationSetup {
  replication: Replication;
  observers: { serverName: string; observer: Observer }[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function setUpReplication(options: {
  config: Config;
  log: Logger;
  router: Router;
  writers: readonly StreamWriter[];
  now?: () => number;
}): ReplicationSetup {
  const { config, log, router, writers, now } = options;
  const transport = config.redis
    ? new RedisTransport({ url: config.redis.url, channel: config.server_name, instanceName: config.instance_name, log, now })
    : new LocalBus().transport();
  const httpClient = config.redis
    ? new ReplicationHttpClient({ instanceMap: config.instance_map, secret: config.worker_replication_secret, instanceName: config.instance_name })
    : undefined;
  const replication = createReplication({
    instanceName: config.instance_name, transport, log, now, writers,
    catchUp: httpClient ? (stream) => makeHttpUpdateFunction(httpClient, stream) : undefined,
  });
  if (config.worker_replication_secret) registerReplicationRoutes(router, writers, config.worker_replication_secret, config.instance_name);
  const observers = config.replication_observers.map((o) => ({
    serverName: o.server_name,
    observer: createObserver({
      transport: new RedisTransport({ url: o.redis_url, channel: o.server_name, instanceName: `${config.instance_name}-observer`, log, now }),
      log, now,
    }),
  }));
  return {
    replication,
    observers,
    async start() {
      await replication.start();
      for (const { observer } of observers) await observer.start();
    },
    async stop() {
      for (const { observer } of observers) await observer.stop();
      await replication.stop();
      await httpClient?.close();
    },
  };
}
