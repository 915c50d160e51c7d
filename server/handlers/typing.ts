/**
 * Typing notifications from other servers (m.typing). Volatile by nature: kept in memory and expiring, as in
 * Synapse, after 60 s unless renewed.
 */
import { z } from "zod";
import { assertOwnUser, parseEdu } from "./edu-validation";

export const FEDERATION_TYPING_TIMEOUT_MS = 60_000;

const typingSchema = z.object({
  room_id: z.string().startsWith("!"),
  user_id: z.string().startsWith("@"),
  typing: z.boolean(),
}).loose();

export class TypingHandler {
  private readonly rooms = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = Date.now) {}

  async onEdu(origin: string, content: unknown): Promise<void> {
    const edu = parseEdu(typingSchema, content, "m.typing");
    assertOwnUser(origin, edu.user_id, "m.typing");
    let users = this.rooms.get(edu.room_id);
    if (edu.typing) {
      if (!users) this.rooms.set(edu.room_id, (users = new Map()));
      users.set(edu.user_id, this.now() + FEDERATION_TYPING_TIMEOUT_MS);
    } else {
      users?.delete(edu.user_id);
      if (users?.size === 0) this.rooms.delete(edu.room_id);
    }
  }

  /** Users typing in a room now. */
  typingUsers(roomId: string): string[] {
    const users = this.rooms.get(roomId);
    if (!users) return [];
    const now = this.now();
    for (const [user, expires] of users) if (expires <= now) users.delete(user);
    return [...users.keys()].sort();
  }
}
