/** Loopback ports for tests. */
import { createServer } from "node:net";

/** A loopback port free right now: for a server to be started on it next, or as one nothing listens on. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
