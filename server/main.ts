/**
 * Entry point (run by tsx): config and flags → HomeServer → one node:http listener. /_matrix/*, /_synapse/* and
 * /.well-known/matrix/* go to the engine with their exact body bytes; everything else goes to Next (the console).
 */
import { createServer, type Server } from "node:http";
import { parseArgs } from "node:util";
import next from "next";
import { ConfigError, loadConfig, type Config } from "./config";
import { setHomeServer } from "./engine";
import { answerClientError } from "./http/client-error";
import { PEER_ADDRESS_HEADER } from "./api/auth";
import { HomeServer } from "./homeserver";

const USAGE = `usage: npm start -- [--config FILE] [--role main|federation_sender] [--instance NAME] [--port N] [--dev]`;

function fail(message: string): never {
  process.stderr.write(`switchyard: ${message}\n`);
  process.exit(1);
}

function readConfig(): { config: Config; dev: boolean } {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: "string" },
        role: { type: "string" },
        instance: { type: "string" },
        port: { type: "string" },
        dev: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
    }));
  } catch (e) {
    fail(`${(e as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    process.exit(0);
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !Number.isInteger(port)) fail(`--port: expected a number, got "${values.port}"`);
  try {
    const config = loadConfig(values.config, { role: values.role, instance_name: values.instance, port });
    return { config, dev: values.dev ?? false };
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const { config, dev } = readConfig();
  let hs: HomeServer;
  try {
    hs = await HomeServer.create(config);
  } catch (e) {
    fail(`cannot start: ${(e as Error).message}`);
  }
  setHomeServer(hs);

  const listener = config.listeners[0]!;
  const app = next({ dev: dev || process.env.NODE_ENV === "development", hostname: listener.host, port: listener.port, dir: process.cwd() });
  const handle = app.getRequestHandler();
  await app.prepare();

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (hs.handles(path)) {
      void hs.handleRequest(req, res);
      return;
    }
    // always overwritten, so the console's login throttle keys on the real peer, never a client-chosen value
    req.headers[PEER_ADDRESS_HEADER] = req.socket.remoteAddress ?? "unknown";
    void handle(req, res);
  });
  server.on("clientError", answerClientError);
  server.keepAliveTimeout = 75_000; // peers keep federation connections open; don't drop them between transactions
  server.headersTimeout = 80_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listener.port, listener.host, () => resolve());
  });

  const base = config.public_baseurl;
  const log = hs.log.child("main");
  log.info(`Switchyard ${config.server_name} ready`, {
    role: config.role, instance: config.instance_name, console: base, key: hs.ownKeys.signingKey.keyId,
    database: hs.db.kind, startup_ms: Date.now() - started, db_ms: hs.startup.databaseMs,
  });
  if (hs.startup.signingKeyCreated) log.info("created a new signing key", { path: config.signing_key_path });
  if (hs.startup.adminTokenCreated) {
    process.stdout.write(`\n  Console: ${base}\n  Admin token (shown once; also stored in ${config.data_dir}/admin_token):\n\n    ${hs.adminToken}\n\n`);
  } else {
    process.stdout.write(`\n  Console: ${base}\n\n`);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    server.close();
    server.closeIdleConnections();
    await hs.stop();
    setHomeServer(undefined);
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((e) => fail((e as Error).stack ?? String(e)));
