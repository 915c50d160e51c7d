/**
 * Real HomeServers on loopback ports (engine routes only, no Next), each with its own temporary data dir.
 * `startFederation` starts several that know each other through `federation_domain_overrides`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type ConfigInput } from "../../server/config";
import type { DnsResolver } from "../../server/federation/transport/discovery";
import { HomeServer, type HomeServerOptions } from "../../server/homeserver";
import { answerClientError } from "../../server/http/client-error";
import { createLogger } from "../../server/log";

export interface TestHomeServer {
  hs: HomeServer;
  serverName: string;
  baseUrl: string;
  port: number;
  dataDir: string;
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/**
 * Test servers never ask the machine's DNS: names they should reach come through federation_domain_overrides, and
 * every other name is unknown (tests must not send traffic anywhere but loopback).
 */
export const offlineDnsResolver: DnsResolver = {
  resolveSrv: (name) => Promise.reject(Object.assign(new Error(`queryxSrv ENOTFOUND ${name}`), { code: "ENOTFOUND" })),
  lookup: (hostname) => Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" })),
};

export type TestServerInput = Partial<ConfigInput> & { server_name: string };

interface Listener {
  server: Server;
  port: number;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
}

async function listen(port = 0): Promise<Listener> {
  let handler: Listener["handler"] = (_req, res) => void res.writeHead(503).end();
  const server = createServer((req, res) => handler(req, res));
  server.on("clientError", answerClientError);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    get handler() { return handler; },
    set handler(h) { handler = h; },
  };
}

async function boot(listener: Listener, input: TestServerInput, options: HomeServerOptions): Promise<TestHomeServer> {
  const ownDir = input.data_dir === undefined;
  const dataDir = (input.data_dir as string | undefined) ?? mkdtempSync(join(tmpdir(), "switchyard-test-"));
  const config = parseConfig({
    database: { url: "pglite:memory" },
    listeners: [{ host: "127.0.0.1", port: listener.port }],
    ...input,
    data_dir: dataDir,
  });
  const hs = await HomeServer.create(config, {
    log: createLogger(process.env.TEST_LOG_LEVEL === "debug" ? "debug" : "error"), dnsResolver: offlineDnsResolver, ...options,
  });
  listener.handler = (req, res) => void hs.handleRequest(req, res);
  return {
    hs,
    serverName: input.server_name,
    port: listener.port,
    baseUrl: `http://127.0.0.1:${listener.port}`,
    dataDir,
    async stop({ keepData = false } = {}) {
      listener.server.closeAllConnections();
      await new Promise<void>((resolve) => listener.server.close(() => resolve()));
      await hs.stop();
      if (!keepData && ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `port` fixes the loopback port (e.g. one already named in another server's instance_map); default a free one. */
export async function startTestHomeServer(input: TestServerInput, options: HomeServerOptions = {}, port = 0): Promise<TestHomeServer> {
  return boot(await listen(port), input, options);
}

/**
 * Starts a stopped server again (`stop({ keepData: true })`) on the same port, so the others still reach it by
 * name; give the same input, whose data_dir and `pglite:` database path hold what it had.
 */
export async function restartTestHomeServer(stopped: TestHomeServer, input: TestServerInput, options: HomeServerOptions = {}): Promise<TestHomeServer> {
  return boot(await listen(stopped.port), { ...input, data_dir: stopped.dataDir }, options);
}

/** Starts servers that reach each other by name through overrides pointing at their loopback ports. */
export async function startFederation(inputs: TestServerInput[], options: HomeServerOptions = {}): Promise<TestHomeServer[]> {
  const listeners = await Promise.all(inputs.map(() => listen()));
  const overrides = Object.fromEntries(inputs.map((input, i) => [input.server_name, `http://127.0.0.1:${listeners[i]!.port}`]));
  return Promise.all(inputs.map((input, i) => boot(listeners[i]!, {
    ...input,
    federation_domain_overrides: { ...overrides, ...(input.federation_domain_overrides as Record<string, string> | undefined) },
  }, options)));
}
