/** The console API: one router per area, mounted under its DESIGN §6 name. Add new areas here. */
import { destinationsRouter } from "./routers/destinations";
import { federationRouter } from "./routers/federation";
import { keysRouter } from "./routers/keys";
import { replicationRouter } from "./routers/replication";
import { roomsRouter } from "./routers/rooms";
import { serverRouter } from "./routers/server";
import { usersRouter } from "./routers/users";
import { createCallerFactory, createTRPCRouter } from "./trpc";

export const appRouter = createTRPCRouter({
  server: serverRouter,
  keys: keysRouter,
  replication: replicationRouter,
  federation: federationRouter,
  destinations: destinationsRouter,
  users: usersRouter,
  rooms: roomsRouter,
});

export type AppRouter = typeof appRouter;

/** Server-side calls without HTTP (tests, and server components should they need it). */
export const createCaller = createCallerFactory(appRouter);
