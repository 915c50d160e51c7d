/** `server.*`: what this process is and how it is doing. */
import { adminProcedure, createTRPCRouter } from "../trpc";

export const serverRouter = createTRPCRouter({
  health: adminProcedure.query(({ ctx: { hs } }) => ({
    server_name: hs.config.server_name,
    role: hs.config.role,
    instance_name: hs.config.instance_name,
    version: hs.version,
    database: hs.db.kind,
    started_at_ts: hs.startedAt,
    uptime_ms: Math.max(0, Date.now() - hs.startedAt),
    key_id: hs.ownKeys.signingKey.keyId,
  })),
});
