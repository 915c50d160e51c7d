/**
 * The one HomeServer of this process, shared with Next's bundles (the tRPC route handler). server/main.ts (run
 * by tsx) and Next's server bundles are separate module graphs, so a module-level singleton would give two
 * engines: the instance lives on globalThis under a Symbol.for key instead. Import only types from the engine
 * here, so Next never bundles the database drivers.
 */
import type { HomeServer } from "./homeserver";

const KEY = Symbol.for("switchyard.homeserver");
type Holder = { [KEY]?: HomeServer };

export function setHomeServer(hs: HomeServer | undefined): void {
  (globalThis as Holder)[KEY] = hs;
}

export function getHomeServer(): HomeServer {
  const hs = (globalThis as Holder)[KEY];
  if (!hs) throw new Error("the Switchyard engine is not running in this process (start it with `npm start`)");
  return hs;
}
