/** The console API: one router per area, mounted under its DESIGN §6 name. Add new areas here. */
import { federationRouter } from "./routers/federation";
import { keysRouter } from "./routers/keys";
import { serverRouter } from "./routers/server";
import { createCallerFactory, createTRPCRouter } from "./trpc";

export const appRouter = createTRPCRouter({
  server: serverRouter,
  keys: keysRouter,
  federation: federationRouter,
});

export type AppRouter = typeof appRouter;

/** Server-side calls without HTTP (tests, and server components should they need it). */
export const createCaller = createCallerFactory(appRouter);
