/**
 * E2eKeysHandler: device lists and keys of our users for other servers (spec /user/devices, /user/keys/query,
 * /user/keys/claim). This engine has no client-server API, so its users have no devices: the answers are the
 * correct ones for users without devices, and other servers' users are never answered for.
 */
import { z } from "zod";
import { serverNameOf } from "../events";
import { badJson, forbidden, notFound } from "../http/matrix-error";
import type { UserStore } from "../store/user-store";

const queryKeysSchema = z.object({ device_keys: z.record(z.string(), z.array(z.string())) }).loose();
const claimKeysSchema = z.object({ one_time_keys: z.record(z.string(), z.record(z.string(), z.string())) }).loose();

export class E2eKeysHandler {
  constructor(private readonly serverName: string, private readonly users: UserStore) {}

  private isLocal(userId: string): boolean {
    return userId.startsWith("@") && userId.includes(":") && serverNameOf(userId) === this.serverName;
  }

  async onUserDevices(userId: string): Promise<{ user_id: string; stream_id: number; devices: never[] }> {
    if (!this.isLocal(userId)) throw forbidden(`${userId} is not a user of this server`);
    if (!(await this.users.getUser(userId))) throw notFound(`Unknown user ${userId}`);
    return { user_id: userId, stream_id: 0, devices: [] };
  }

  async onQueryKeys(body: unknown): Promise<{ device_keys: Record<string, Record<string, never>> }> {
    const parsed = queryKeysSchema.safeParse(body);
    if (!parsed.success) throw badJson(`Invalid keys query: ${parsed.error.issues[0]!.message}`);
    const deviceKeys: Record<string, Record<string, never>> = {};
    for (const userId of Object.keys(parsed.data.device_keys)) {
      if (this.isLocal(userId) && (await this.users.getUser(userId))) deviceKeys[userId] = {};
    }
    return { device_keys: deviceKeys };
  }

  async onClaimKeys(body: unknown): Promise<{ one_time_keys: Record<string, never> }> {
    const parsed = claimKeysSchema.safeParse(body);
    if (!parsed.success) throw badJson(`Invalid keys claim: ${parsed.error.issues[0]!.message}`);
    return { one_time_keys: {} };
  }
}
