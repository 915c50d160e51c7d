/** Presence of remote users (m.presence): each pushed state is checked and stored. */
import { z } from "zod";
import type { PresenceStore } from "../store/presence-store";
import { assertOwnUser, parseEdu } from "./edu-validation";

const presenceSchema = z.object({
  push: z.array(z.object({
    user_id: z.string().startsWith("@"),
    presence: z.enum(["online", "offline", "unavailable"]),
    last_active_ago: z.number().int().nonnegative().optional(),
    status_msg: z.string().max(4096).nullish(),
    currently_active: z.boolean().optional(),
  }).loose()).max(1000),
}).loose();

export class PresenceHandler {
  constructor(private readonly store: PresenceStore, private readonly now: () => number = Date.now) {}

  async onEdu(origin: string, content: unknown): Promise<void> {
    const edu = parseEdu(presenceSchema, content, "m.presence");
    for (const p of edu.push) assertOwnUser(origin, p.user_id, "m.presence");
    const now = this.now();
    await this.store.upsert(edu.push.map((p) => ({
      userId: p.user_id, state: p.presence, lastActiveAgo: p.last_active_ago ?? null,
      statusMsg: p.status_msg ?? null, currentlyActive: p.currently_active ?? false, updatedTs: now,
    })));
  }
}
