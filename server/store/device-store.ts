/**
 * Remote users' devices and cross-signing keys as their servers announce them (m.device_list_update,
 * m.signing_key_update), and where each user's device list stream got to.
 */
import type { PrismaClient } from "./generated/client";

export class DeviceStore {
  constructor(private readonly prisma: PrismaClient) {}

  async getPosition(userId: string): Promise<{ streamId: number; needsResync: boolean } | null> {
    const r = await this.prisma.remoteDeviceListPosition.findUnique({ where: { userId } });
    return r && { streamId: Number(r.streamId), needsResync: r.needsResync };
  }

  /** Applies one update: the device's new content (null when deleted) and the user's new stream position. */
  async applyDeviceUpdate(userId: string, deviceId: string, content: string | null, streamId: number): Promise<void> {
    await this.prisma.$transaction([
      content === null
        ? this.prisma.remoteDevice.deleteMany({ where: { userId, deviceId } })
        : this.prisma.remoteDevice.upsert({ where: { userId_deviceId: { userId, deviceId } }, create: { userId, deviceId, content }, update: { content } }),
      this.prisma.remoteDeviceListPosition.upsert({
        where: { userId },
        create: { userId, streamId: BigInt(streamId) },
        update: { streamId: BigInt(streamId) },
      }),
    ]);
  }

  /** Marks a user's list as incomplete (we missed updates): it must be fetched again with /user/devices. */
  async markNeedsResync(userId: string, streamId: number): Promise<void> {
    await this.prisma.remoteDeviceListPosition.upsert({
      where: { userId },
      create: { userId, streamId: BigInt(streamId), needsResync: true },
      update: { needsResync: true },
    });
  }

  async usersNeedingResync(limit: number): Promise<string[]> {
    const rows = await this.prisma.remoteDeviceListPosition.findMany({ where: { needsResync: true }, take: limit, select: { userId: true } });
    return rows.map((r) => r.userId);
  }

  async devices(userId: string): Promise<{ deviceId: string; content: unknown }[]> {
    const rows = await this.prisma.remoteDevice.findMany({ where: { userId }, orderBy: { deviceId: "asc" } });
    return rows.map((r) => ({ deviceId: r.deviceId, content: JSON.parse(r.content) }));
  }

  async storeCrossSigningKey(userId: string, keyType: string, keyData: unknown): Promise<void> {
    const text = JSON.stringify(keyData);
    await this.prisma.crossSigningKey.upsert({ where: { userId_keyType: { userId, keyType } }, create: { userId, keyType, keyData: text }, update: { keyData: text } });
  }

  async crossSigningKeys(userId: string): Promise<Record<string, unknown>> {
    const rows = await this.prisma.crossSigningKey.findMany({ where: { userId } });
    return Object.fromEntries(rows.map((r) => [r.keyType, JSON.parse(r.keyData)]));
  }
}
