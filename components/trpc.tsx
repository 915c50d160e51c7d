"use client";
/**
 * The console's tRPC client: React Query hooks typed by the AppRouter. Subscriptions go over SSE
 * (httpSubscriptionLink), everything else is batched over HTTP. A 401 from any call (the session expired or the
 * admin token changed) sends the browser to /login, since layouts are not re-checked on client-side navigation.
 */
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, isTRPCClientError, splitLink } from "@trpc/client";
import type { inferRouterOutputs } from "@trpc/server";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import { useState, type ReactNode } from "react";
import type { AppRouter } from "@/server/api/root";

export const { TRPCProvider, useTRPC } = createTRPCContext<AppRouter>();

/** What each procedure returns, for typing the views that show it. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;

const API_URL = "/api/trpc";

function isUnauthorized(error: unknown): boolean {
  return isTRPCClientError(error) && error.data?.code === "UNAUTHORIZED";
}

/** HTTP status of a tRPC error, when the server answered. */
function httpStatus(error: unknown): number | undefined {
  return isTRPCClientError(error) ? (error.data as { httpStatus?: number } | undefined)?.httpStatus : undefined;
}

function onApiError(error: unknown): void {
  if (isUnauthorized(error)) window.location.assign("/login");
}

function makeQueryClient(): QueryClient {
  return new QueryClient({
    queryCache: new QueryCache({ onError: onApiError }),
    mutationCache: new MutationCache({ onError: onApiError }),
    defaultOptions: {
      queries: {
        // a 4xx will not change on retry; network blips and 5xx might
        retry: (failures, error) => failures < 2 && (httpStatus(error) ?? 500) >= 500,
        refetchOnWindowFocus: true,
      },
    },
  });
}

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(makeQueryClient);
  const [trpcClient] = useState(() =>
    createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url: API_URL }),
          false: httpBatchLink({ url: API_URL }),
        }),
      ],
    }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}
