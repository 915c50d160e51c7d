/** `users.*`: local users, created by operators (and tests) to own rooms and act in them. */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { engineProcedure } from "../engine-procedure";
import { createTRPCRouter } from "../trpc";

/** The spec's user ID localpart grammar (lower case, digits and ._=-/+). */
const localpart = z.string().min(1).max(200).regex(/^[a-z0-9._=\-/+]+$/, "use lower-case letters, digits and . _ = - / +");

export const usersRouter = createTRPCRouter({
  create: engineProcedure
    .input(z.object({ localpart, displayname: z.string().trim().min(1).max(256).optional() }))
    .mutation(async ({ ctx: { hs }, input }) => {
      const userId = `@${input.localpart}:${hs.config.server_name}`;
      const created = await hs.stores.users.createUser({ userId, displayname: input.displayname ?? null, avatarUrl: null, createdTs: Date.now() });
      if (!created) throw new TRPCError({ code: "CONFLICT", message: `${userId} already exists` });
      return { user_id: userId };
    }),
});
