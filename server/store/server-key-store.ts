/** Remote servers' verify keys (table server_keys_json). */
import type { PrismaClient } from "./generated/client";

export interface StoredServerKey {
  serverName: string;
  keyId: string;
  verifyKey: string;
  validUntilTs: number;
  fetchedTs: number;
  fromServer: string;
  /** the signed key response as received */
  keyJson: string;
}

export class ServerKeyStore {
  constructor(private readonly prisma: PrismaClient) {}

  async getKeys(serverName: string): Promise<StoredServerKey[]> {
    const rows = await this.prisma.serverKey.findMany({ where: { serverName }, orderBy: { keyId: "asc" } });
    return rows.map((r) => ({ ...r, validUntilTs: Number(r.validUntilTs), fetchedTs: Number(r.fetchedTs) }));
  }

  async getKey(serverName: string, keyId: string): Promise<StoredServerKey | null> {
    const r = await this.prisma.serverKey.findUnique({ where: { serverName_keyId: { serverName, keyId } } });
    return r && { ...r, validUntilTs: Number(r.validUntilTs), fetchedTs: Number(r.fetchedTs) };
  }

  /** Stores keys from one response; a key already known keeps whichever copy is valid for longer. */
  async storeKeys(keys: StoredServerKey[]): Promise<void> {
    await this.prisma.$transaction(async (tx) => {
      for (const k of keys) {
        const existing = await tx.serverKey.findUnique({ where: { serverName_keyId: { serverName: k.serverName, keyId: k.keyId } } });
        if (existing && Number(existing.validUntilTs) > k.validUntilTs) continue;
        const data = { ...k, validUntilTs: BigInt(k.validUntilTs), fetchedTs: BigInt(k.fetchedTs) };
        await tx.serverKey.upsert({ where: { serverName_keyId: { serverName: k.serverName, keyId: k.keyId } }, create: data, update: data });
      }
    });
  }

  async listServers(): Promise<{ serverName: string; keys: number; newestFetchedTs: number }[]> {
    const rows = await this.prisma.serverKey.groupBy({ by: ["serverName"], _count: { keyId: true }, _max: { fetchedTs: true }, orderBy: { serverName: "asc" } });
    return rows.map((r) => ({ serverName: r.serverName, keys: r._count.keyId, newestFetchedTs: Number(r._max.fetchedTs ?? 0n) }));
  }
}
