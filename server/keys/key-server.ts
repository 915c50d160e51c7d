/**
 * The key endpoints (spec: "Retrieving server keys"): our own self-signed key document, and the notary queries
 * that serve other servers' keys re-signed by us.
 */
import { z } from "zod";
import type { JsonObject } from "../crypto";
import { badJson } from "../http/matrix-error";
import { noAuth, type Router } from "../http/router";
import type { Keyring } from "./keyring";
import type { OwnKeys } from "./own-keys";

/** A notary query may name this many servers; more would let one request fan out without bound. */
export const MAX_NOTARY_SERVERS = 100;

const notaryQuerySchema = z.object({
  server_keys: z.record(z.string().min(1).max(255), z.record(z.string(), z.object({ minimum_valid_until_ts: z.number().int().optional() }).loose())),
}).loose();

export class KeyServer {
  constructor(
    private readonly ownKeys: OwnKeys,
    private readonly keyring: Keyring,
    private readonly now: () => number = Date.now,
  ) {}

  register(router: Router): void {
    const own = () => ({ body: this.ownKeys.serverKeyDocument() });
    router.add("GET", "/_matrix/key/v2/server", { authenticate: noAuth }, own);
    // Synapse 1.67 asks for /server/{keyId}; the answer is the whole document either way.
    router.add("GET", "/_matrix/key/v2/server/:keyId", { authenticate: noAuth }, own);
    router.add("GET", "/_matrix/key/v2/query/:serverName", { authenticate: noAuth }, async (ctx) => {
      const minimum = parseMinimumValidUntil(ctx.query.get("minimum_valid_until_ts"));
      return { body: { server_keys: await this.keysFor(ctx.params.serverName!, minimum) } };
    });
    router.add("POST", "/_matrix/key/v2/query", { authenticate: noAuth }, async (ctx) => {
      const parsed = notaryQuerySchema.safeParse(ctx.json({ lenient: true }));
      if (!parsed.success) throw badJson(`Invalid key query: ${parsed.error.issues[0]?.path.join(".")} ${parsed.error.issues[0]?.message}`);
      const servers = Object.entries(parsed.data.server_keys);
      if (servers.length > MAX_NOTARY_SERVERS) throw badJson(`At most ${MAX_NOTARY_SERVERS} servers per key query`);
      const results = await Promise.all(servers.map(([server, keys]) => {
        const minimums = Object.values(keys).map((k) => k.minimum_valid_until_ts ?? 0);
        return this.keysFor(server, minimums.length ? Math.max(...minimums) : 0);
      }));
      return { body: { server_keys: results.flat() } };
    });
  }

  /** Key responses for `serverName`, each with our signature added. */
  private async keysFor(serverName: string, minimumValidUntilTs: number): Promise<JsonObject[]> {
    if (serverName === this.ownKeys.serverName) return [this.ownKeys.serverKeyDocument()];
    const responses = await this.keyring.keyResponsesFor(serverName, minimumValidUntilTs || this.now());
    return responses.map((r) => this.ownKeys.sign(r));
  }
}

function parseMinimumValidUntil(value: string | null): number {
  if (value === null || value === "") return 0;
  if (!/^\d{1,16}$/.test(value)) throw badJson("minimum_valid_until_ts must be an integer");
  return Number(value);
}
