/**
 * Remote device lists (m.device_list_update) and cross-signing keys (m.signing_key_update). An update applies
 * when its prev_id chain joins what we have; otherwise we missed updates and the user is marked for a resync
 * (a full /user/devices fetch), as Synapse's DeviceListUpdater does.
 */
import { z } from "zod";
import type { DeviceStore } from "../store/device-store";
import { assertOwnUser, parseEdu } from "./edu-validation";

const deviceListUpdateSchema = z.object({
  user_id: z.string().startsWith("@"),
  device_id: z.string().min(1).max(255),
  stream_id: z.number().int().nonnegative(),
  prev_id: z.array(z.number().int().nonnegative()).max(100).optional(),
  deleted: z.boolean().optional(),
  device_display_name: z.string().max(1024).optional(),
  keys: z.looseObject({}).optional(),
}).loose();

const signingKeyUpdateSchema = z.object({
  user_id: z.string().startsWith("@"),
  master_key: z.looseObject({ user_id: z.string(), usage: z.array(z.string()), keys: z.record(z.string(), z.string()) }).optional(),
  self_signing_key: z.looseObject({ user_id: z.string(), usage: z.array(z.string()), keys: z.record(z.string(), z.string()) }).optional(),
}).loose();

export class DeviceListHandler {
  constructor(private readonly store: DeviceStore) {}

  async onDeviceListUpdate(origin: string, content: unknown): Promise<void> {
    const edu = parseEdu(deviceListUpdateSchema, content, "m.device_list_update");
    assertOwnUser(origin, edu.user_id, "m.device_list_update");
    const position = await this.store.getPosition(edu.user_id);
    if (position && edu.stream_id <= position.streamId) return; // already seen (a retried transaction)
    const prev = edu.prev_id ?? [];
    const joins = prev.length === 0 || (position !== null && prev.every((id) => id <= position.streamId));
    if (!joins || position?.needsResync) {
      await this.store.markNeedsResync(edu.user_id, edu.stream_id);
      return;
    }
    const device = edu.deleted ? null : JSON.stringify({ device_id: edu.device_id, display_name: edu.device_display_name, keys: edu.keys });
    await this.store.applyDeviceUpdate(edu.user_id, edu.device_id, device, edu.stream_id);
  }

  async onSigningKeyUpdate(origin: string, content: unknown): Promise<void> {
    const edu = parseEdu(signingKeyUpdateSchema, content, "m.signing_key_update");
    assertOwnUser(origin, edu.user_id, "m.signing_key_update");
    if (edu.master_key) await this.store.storeCrossSigningKey(edu.user_id, "master", edu.master_key);
    if (edu.self_signing_key) await this.store.storeCrossSigningKey(edu.user_id, "self_signing", edu.self_signing_key);
  }
}
