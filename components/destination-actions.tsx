"use client";
/**
 * The operator's actions on destinations as confirmable actions (see ActionDialog): each says what it will do,
 * runs the mutation, refreshes every destinations view, and reports what happened in a sentence.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import type { DestinationState } from "@/server/federation/sender/destination-status";
import type { ConfirmableAction } from "./action-dialog";
import { formatCount } from "./format";
import { STATE_LABEL } from "./destination-state";
import { useTRPC } from "./trpc";

export type BulkTarget = { destinations: string[] } | { state?: DestinationState; search?: string; matching: number };

export function useDestinationActions() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const retryNow = useMutation(trpc.destinations.retryNow.mutationOptions());
  const retryMany = useMutation(trpc.destinations.retryMany.mutationOptions());
  const reset = useMutation(trpc.destinations.reset.mutationOptions());
  const clearDiscovery = useMutation(trpc.destinations.clearDiscoveryCache.mutationOptions());
  // waits for the views to show the new state, so it is on screen when the dialog closes
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.destinations.pathKey() });

  return {
    retryNow: (destination: string): ConfirmableAction => ({
      title: `Retry ${destination} now?`,
      description: <p>Clears its retry timer if it is backing off and starts sending whatever is waiting for it straight away, also when it is stuck.</p>,
      confirmLabel: "Retry now",
      progressLabel: "Retrying…",
      async run() {
        const r = await retryNow.mutateAsync({ destination });
        await refresh();
        const timings = r.was_backing_off ? "retry timer cleared" : "it was not backing off";
        return `${destination}: ${timings}; ${r.woken ? "sending now" : `the sender ${r.owner} picks it up`}.`;
      },
    }),

    reset: (destination: string): ConfirmableAction => ({
      title: `Reset ${destination}?`,
      description: <p>Forgets its failures (Synapse's reset_connection): the backoff starts again from the shortest interval if it fails next time.</p>,
      confirmLabel: "Reset",
      progressLabel: "Resetting…",
      async run() {
        await reset.mutateAsync({ destination });
        await refresh();
        return `${destination}: retry timings reset.`;
      },
    }),

    clearDiscoveryCache: (destination: string): ConfirmableAction => ({
      title: `Clear the discovery cache of ${destination}?`,
      description: <p>Forgets its cached .well-known and SRV answers, so the next request looks its name up afresh.</p>,
      confirmLabel: "Clear cache",
      progressLabel: "Clearing…",
      async run() {
        await clearDiscovery.mutateAsync({ destination });
        await refresh();
        return `${destination}: discovery cache cleared.`;
      },
    }),

    retryMany: (target: BulkTarget): ConfirmableAction => {
      const named = "destinations" in target;
      const count = named ? target.destinations.length : target.matching;
      const what = named
        ? `the ${formatCount(count)} selected destination${count === 1 ? "" : "s"}`
        : `all ${formatCount(count)} destination${count === 1 ? "" : "s"}${target.state ? ` ${STATE_LABEL[target.state]}` : ""}${target.search ? ` matching “${target.search}”` : ""}`;
      return {
        title: `Retry ${what} now?`,
        description: <p>{`Clears the retry timers of those backing off and starts sending to each. ${named ? "" : "The filter is applied again on the server, so destinations that entered it since are included."}`}</p>,
        confirmLabel: `Retry ${formatCount(count)}`,
        progressLabel: "Retrying…",
        async run() {
          const r = await retryMany.mutateAsync(named ? { destinations: target.destinations } : { state: target.state, search: target.search });
          await refresh();
          return `Retried ${formatCount(r.destinations)} destination${r.destinations === 1 ? "" : "s"}: ${formatCount(r.was_backing_off)} retry timer${r.was_backing_off === 1 ? "" : "s"} cleared, ${formatCount(r.woken)} sending now.`;
        },
      };
    },
  };
}
