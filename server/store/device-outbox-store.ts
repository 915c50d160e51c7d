/**
 * EDUs for remote devices that must survive restarts (Synapse: device_federation_outbox and
 * device_lists_outbound_pokes): to-device messages and device-list updates wait here, in stream order, until a
 * transaction carrying them got a 2xx.
 */
import type { JsonObject } from "../crypto";
import type { PrismaClient } from "./generated/client";

export interface OutboxEdu {
  eduType: string;
  content: JsonObject;
}

export interface OutboxBatch {
  edus: OutboxEdu[];
  /** stream ID of the last row returned: acknowledge up to it once they were delivered */
  lastStreamId: number;
}

export interface DeviceListPoke {
  destination: string;
  userId: string;
  deviceId: string;
  /** m.device_list_update (default) or m.signing_key_update */
  eduType?: string;
  content: JsonObject;
  ts: number;
}

export class DeviceOutboxStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** Queues m.direct_to_device EDU contents ({sender, type, message_id, messages}) for a destination. */
  async addToDeviceMessages(destination: string, contents: readonly JsonObject[], queuedTs: number): Promise<void> {
    await this.prisma.deviceFederationOutbox.createMany({
      data: contents.map((content) => ({
        destination, messageId: String(content.message_id ?? ""), content: JSON.stringify(content), queuedTs: BigInt(queuedTs),
      })),
    });
  }

  /** Synapse's get_new_device_msgs_for_remote: the oldest `limit` to-device EDUs after `afterStreamId`. */
  async getNewDeviceMessagesForRemote(destination: string, afterStreamId: number, limit: number): Promise<OutboxBatch> {
    if (limit <= 0) return { edus: [], lastStreamId: afterStreamId };
    const rows = await this.prisma.deviceFederationOutbox.findMany({
      where: { destination, streamId: { gt: BigInt(afterStreamId) } }, orderBy: { streamId: "asc" }, take: limit,
    });
    return {
      edus: rows.map((r) => ({ eduType: "m.direct_to_device", content: JSON.parse(r.content) as JsonObject })),
      lastStreamId: rows.length ? Number(rows.at(-1)!.streamId) : afterStreamId,
    };
  }

  /** Synapse's delete_device_msgs_for_remote: forgets what was delivered. */
  async deleteDeviceMessagesForRemote(destination: string, upToStreamId: number): Promise<void> {
    await this.prisma.deviceFederationOutbox.deleteMany({ where: { destination, streamId: { lte: BigInt(upToStreamId) } } });
  }

  async addDeviceListPokes(pokes: readonly DeviceListPoke[]): Promise<void> {
    await this.prisma.deviceListOutboundPoke.createMany({
      data: pokes.map((p) => ({
        destination: p.destination, userId: p.userId, deviceId: p.deviceId, eduType: p.eduType ?? "m.device_list_update",
        content: JSON.stringify(p.content), ts: BigInt(p.ts),
      })),
    });
  }

  /** Synapse's get_device_updates_by_remote: the oldest `limit` unsent device-list EDUs after `afterStreamId`. */
  async getDeviceUpdatesByRemote(destination: string, afterStreamId: number, limit: number): Promise<OutboxBatch> {
    if (limit <= 0) return { edus: [], lastStreamId: afterStreamId };
    const rows = await this.prisma.deviceListOutboundPoke.findMany({
      where: { destination, sent: false, streamId: { gt: BigInt(afterStreamId) } }, orderBy: { streamId: "asc" }, take: limit,
    });
    return {
      edus: rows.map((r) => ({ eduType: r.eduType, content: JSON.parse(r.content) as JsonObject })),
      lastStreamId: rows.length ? Number(rows.at(-1)!.streamId) : afterStreamId,
    };
  }

  /** Destinations with to-device messages or device-list updates waiting. */
  async destinationsWithPending(): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<{ destination: string }[]>`
      SELECT destination FROM device_federation_outbox
      UNION SELECT destination FROM device_lists_outbound_pokes WHERE NOT sent`;
    return rows.map((r) => r.destination);
  }

  /** How many to-device EDUs and device-list updates wait for the destination. */
  async pendingCounts(destination: string): Promise<{ toDevice: number; deviceLists: number }> {
    const [toDevice, deviceLists] = await Promise.all([
      this.prisma.deviceFederationOutbox.count({ where: { destination } }),
      this.prisma.deviceListOutboundPoke.count({ where: { destination, sent: false } }),
    ]);
    return { toDevice, deviceLists };
  }

  /** Synapse's mark_as_sent_devices_by_remote. */
  async markAsSentDevicesByRemote(destination: string, upToStreamId: number): Promise<void> {
    await this.prisma.deviceListOutboundPoke.updateMany({
      where: { destination, sent: false, streamId: { lte: BigInt(upToStreamId) } }, data: { sent: true },
    });
  }
}
