/**
 * To-device messages from other servers (m.direct_to_device) for our users' devices. Stored in the device inbox
 * once per (origin, message_id), so a retried transaction does not deliver a message twice.
 */
import { z } from "zod";
import { EduRejected } from "../federation/registry";
import type { DeviceInboxStore, InboxMessage } from "../store/device-inbox-store";
import { assertOwnUser, domainOf, parseEdu } from "./edu-validation";

const directToDeviceSchema = z.object({
  sender: z.string().startsWith("@"),
  type: z.string().min(1).max(255),
  message_id: z.string().min(1).max(255),
  messages: z.record(z.string().startsWith("@"), z.record(z.string().min(1).max(255), z.looseObject({}))),
}).loose();

export class DeviceMessageHandler {
  constructor(
    private readonly serverName: string,
    private readonly store: DeviceInboxStore,
    private readonly now: () => number = Date.now,
  ) {}

  async onEdu(origin: string, content: unknown): Promise<void> {
    const edu = parseEdu(directToDeviceSchema, content, "m.direct_to_device");
    assertOwnUser(origin, edu.sender, "m.direct_to_device");
    const messages: InboxMessage[] = [];
    for (const [userId, byDevice] of Object.entries(edu.messages)) {
      if (domainOf(userId) !== this.serverName) throw new EduRejected(`m.direct_to_device for ${userId}, who is not on this server`);
      for (const [deviceId, body] of Object.entries(byDevice)) {
        messages.push({ userId, deviceId, sender: edu.sender, messageType: edu.type, content: JSON.stringify(body) });
      }
    }
    await this.store.deliver(origin, edu.message_id, messages, this.now());
  }
}
