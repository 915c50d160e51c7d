/**
 * Admin procedures that call into the rooms engine, whose refusals are Matrix errors (403 M_FORBIDDEN, 404
 * M_NOT_FOUND, ...): they reach the console as the matching tRPC error with the engine's message. Errors are
 * recognised by shape, not class: the engine and Next's bundles are separate module graphs (STACK.md §3).
 */
import { TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { adminProcedure } from "./trpc";

const CODES: Record<number, TRPC_ERROR_CODE_KEY> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  409: "CONFLICT",
  413: "PAYLOAD_TOO_LARGE",
  429: "TOO_MANY_REQUESTS",
};

interface MatrixErrorShape {
  status: number;
  errcode: string;
  message: string;
}

function isMatrixError(error: unknown): error is MatrixErrorShape {
  const e = error as Partial<MatrixErrorShape> | null;
  return typeof e === "object" && e !== null && typeof e.status === "number" && typeof e.errcode === "string" && typeof e.message === "string";
}

/** Other servers failing us (no server answered a join, a remote refusal) are a bad gateway, not our bug. */
function isFederationFailure(error: unknown): error is Error {
  const name = (error as Error | null)?.name;
  return name === "NoServerAnsweredError" || name === "FederationRequestError";
}

export const engineProcedure = adminProcedure.use(async ({ next }) => {
  const result = await next();
  if (result.ok) return result;
  const cause = result.error.cause;
  if (isMatrixError(cause)) {
    throw new TRPCError({ code: CODES[cause.status] ?? "INTERNAL_SERVER_ERROR", message: `${cause.errcode}: ${cause.message}`, cause });
  }
  if (isFederationFailure(cause)) throw new TRPCError({ code: "BAD_GATEWAY", message: cause.message, cause });
  return result;
});
