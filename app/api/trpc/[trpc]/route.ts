/** The console API endpoint: tRPC over fetch (GET for queries, POST for batches and mutations, SSE subscriptions). */
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { getHomeServer } from "@/server/engine";
import { appRouter } from "@/server/api/root";
import { createTRPCContext } from "@/server/api/trpc";

function handler(req: Request): Promise<Response> {
  const hs = getHomeServer();
  return fetchRequestHandler({
    endpoint: "/api/trpc",
    req,
    router: appRouter,
    createContext: () => createTRPCContext({ hs, headers: req.headers }),
    onError({ error, path }) {
      if (error.code === "INTERNAL_SERVER_ERROR") hs.log.error("console API call failed", { path, error: error.cause?.stack ?? error.message });
    },
  });
}

export { handler as GET, handler as POST };
