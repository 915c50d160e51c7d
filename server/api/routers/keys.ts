/** `keys.*`: our signing keys as we publish them, and the remote servers' keys we have cached. */
import { z } from "zod";
import { adminProcedure, createTRPCRouter } from "../trpc";

/** The spec's server name: a host name, IPv4 or [IPv6] literal, optionally with a port. */
const serverNameInput = z.string().trim().min(1, "enter a server name").max(255)
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, "expected a server name such as example.org or example.org:8448");

export const keysRouter = createTRPCRouter({
  own: adminProcedure.query(({ ctx: { hs } }) => {
    const { signingKey, oldVerifyKeys } = hs.ownKeys;
    // valid_until_ts as the key endpoint would serve it right now
    const document = hs.ownKeys.serverKeyDocument();
    return {
      server_name: hs.config.server_name,
      key_id: signingKey.keyId,
      public_key: signingKey.publicKeyBase64,
      valid_until_ts: Number(document.valid_until_ts),
      old_keys: Object.entries(oldVerifyKeys).map(([keyId, k]) => ({ key_id: keyId, key: k.key, expired_ts: k.expired_ts })),
    };
  }),

  /** Every server whose keys we hold, with how many and when they were last fetched. */
  servers: adminProcedure.query(async ({ ctx: { hs } }) => {
    const servers = await hs.stores.serverKeys.listServers();
    return servers.map((s) => ({ server_name: s.serverName, keys: s.keys, fetched_ts: s.newestFetchedTs }));
  }),

  remote: adminProcedure.input(z.object({ server_name: serverNameInput })).query(async ({ ctx: { hs }, input }) => {
    const keys = await hs.keyring.cachedKeys(input.server_name);
    return {
      server_name: input.server_name,
      keys: keys.map((k) => ({
        key_id: k.keyId,
        verify_key: k.verifyKey,
        valid_until_ts: k.validUntilTs,
        fetched_ts: k.fetchedTs,
        from_server: k.fromServer,
      })),
    };
  }),
});
