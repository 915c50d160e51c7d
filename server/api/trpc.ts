/**
 * tRPC set-up for the console API (`/api/trpc`): the request context, the error shape and the procedure builders.
 * Every procedure is an admin procedure (DESIGN §6): the console has one operator role and no public data.
 * Runs inside Next's bundles, so it imports only types from the engine; the route handler passes the HomeServer in.
 */
import { initTRPC, TRPCError } from "@trpc/server";
import type { HomeServer } from "../homeserver";
import { isAdminRequest } from "./auth";

export interface TRPCContext {
  hs: HomeServer;
  /** the request carried the admin token (Bearer) or a valid session cookie */
  authenticated: boolean;
}

export function createTRPCContext(opts: { hs: HomeServer; headers: Headers; nowMs?: number }): TRPCContext {
  return { hs: opts.hs, authenticated: isAdminRequest(opts.headers, opts.hs.adminToken, opts.nowMs ?? Date.now()) };
}

/** Input validation failures as one readable line (`field: problem`) rather than a JSON dump of issues. */
function describeInputError(cause: unknown): string | undefined {
  const issues = (cause as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(issues) || issues.length === 0) return undefined;
  return issues.map((i: { path?: PropertyKey[]; message?: string }) => {
    const path = i.path?.map(String).join(".");
    return path ? `${path}: ${i.message}` : String(i.message);
  }).join("; ");
}

const t = initTRPC.context<TRPCContext>().create({
  errorFormatter({ shape, error }) {
    const inputMessage = error.code === "BAD_REQUEST" ? describeInputError(error.cause) : undefined;
    return inputMessage ? { ...shape, message: inputMessage } : shape;
  },
});

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;

export const adminProcedure = t.procedure.use(({ ctx, next }) => {
  if (!ctx.authenticated) throw new TRPCError({ code: "UNAUTHORIZED", message: "sign in to the console or send the admin token as a Bearer token" });
  return next({ ctx });
});
