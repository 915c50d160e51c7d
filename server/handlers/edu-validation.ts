/** Shared checks for EDUs: zod parsing with a readable reason, and "this user belongs to the sending server". */
import type { z } from "zod";
import { EduRejected } from "../federation/registry";

export function parseEdu<S extends z.ZodType>(schema: S, content: unknown, eduType: string): z.output<S> {
  const result = schema.safeParse(content);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new EduRejected(`malformed ${eduType}: ${issue.path.join(".") || "content"} ${issue.message}`);
  }
  return result.data;
}

/** The server part of a user ID: everything after the first colon. */
export function domainOf(userId: string): string {
  const i = userId.indexOf(":");
  return i < 0 ? "" : userId.slice(i + 1);
}

/** Servers may only speak for their own users (Synapse checks the same for every per-user EDU). */
export function assertOwnUser(origin: string, userId: string, eduType: string): void {
  if (domainOf(userId) !== origin) throw new EduRejected(`${eduType} for ${userId} does not come from its server (${origin})`);
}
