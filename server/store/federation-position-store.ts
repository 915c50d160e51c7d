/**
 * How far each federation sender instance processed a stream (Synapse: federation_stream_position). The sender
 * reads the events stream again from here after a restart.
 */
import type { PrismaClient } from "./generated/client";

export class FederationPositionStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** The position, or null when the instance never recorded one. */
  async get(type: string, instanceName: string): Promise<number | null> {
    const r = await this.prisma.federationStreamPosition.findUnique({ where: { type_instanceName: { type, instanceName } } });
    return r ? Number(r.streamId) : null;
  }

  async set(type: string, instanceName: string, streamId: number): Promise<void> {
    await this.prisma.federationStreamPosition.upsert({
      where: { type_instanceName: { type, instanceName } },
      create: { type, instanceName, streamId: BigInt(streamId) },
      update: { streamId: BigInt(streamId) },
    });
  }
}
