/**
 * A HomeServer in a process of its own, so a test can SIGKILL it (an in-process stop always flushes):
 * `node --import tsx tests/support/worker-process.ts PORT CONFIG_JSON`. Prints WORKER_READY once it serves on PORT.
 */
import { pathToFileURL } from "node:url";
import { startTestHomeServer, type TestServerInput } from "./homeserver";

/** the line that says it serves (a word no log line contains) */
export const WORKER_READY = "switchyard-worker-serving";

async function main(): Promise<void> {
  const port = Number(process.argv[2]);
  const input = JSON.parse(process.argv[3] ?? "") as TestServerInput;
  const server = await startTestHomeServer(input, {}, port);
  process.stdout.write(`${WORKER_READY}\n`);
  process.on("SIGTERM", () => void server.stop({ keepData: true }).then(() => process.exit(0)));
}

// run as a script, not when a test imports WORKER_READY
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}
