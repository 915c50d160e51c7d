/**
 * `replication.*`: every instance's position per stream, each consumer's processed position and lag, a lag
 * history for charts, and a live subscription. `deployment` picks a followed deployment (observer mode) instead
 * of our own.
 */
import { on } from "node:events";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import type { HomeServer } from "../../homeserver";
import type { PositionsSnapshot, PositionTracker } from "../../replication/positions";
import { adminProcedure, createTRPCRouter } from "../trpc";

const deploymentInput = z.object({ deployment: z.string().max(255).optional() });

function trackerFor(hs: HomeServer, deployment: string | undefined): PositionTracker {
  if (deployment === undefined || deployment === hs.config.server_name) return hs.replication.positions;
  const observed = hs.replicationObservers.find((o) => o.serverName === deployment);
  if (!observed) throw new TRPCError({ code: "NOT_FOUND", message: `not following a deployment named ${deployment}` });
  return observed.observer.positions;
}

export const replicationRouter = createTRPCRouter({
  /** Our deployment and the followed ones, with their instances and whether each is alive. */
  instances: adminProcedure.query(({ ctx: { hs } }) => ({
    self: hs.config.instance_name,
    deployments: [
      { server_name: hs.config.server_name, observed: false, instances: hs.replication.positions.snapshot().instances },
      ...hs.replicationObservers.map((o) => ({ server_name: o.serverName, observed: true, instances: o.observer.positions.snapshot().instances })),
    ],
    federation_sender_instances: hs.config.federation_sender_instances,
  })),

  positions: adminProcedure.input(deploymentInput.default({})).query(({ ctx: { hs }, input }): PositionsSnapshot =>
    trackerFor(hs, input.deployment).snapshot()),

  lagHistory: adminProcedure
    .input(deploymentInput.extend({ seconds: z.number().int().min(1).max(3600).default(600) }).default({ seconds: 600 }))
    .query(({ ctx: { hs }, input }) => trackerFor(hs, input.deployment).lagHistory(input.seconds)),

  /** A snapshot at once, then one each time positions are sampled (about every second). */
  onPositions: adminProcedure.input(deploymentInput.default({})).subscription(async function* ({ ctx: { hs }, input, signal }) {
    const tracker = trackerFor(hs, input.deployment);
    yield tracker.snapshot();
    for await (const [snapshot] of on(tracker.emitter, "positions", { signal })) yield snapshot as PositionsSnapshot;
  }),
});
