import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EduRejected, FederationRegistry } from "../../server/federation/registry";
import { DeviceListHandler } from "../../server/handlers/device-list";
import { DeviceMessageHandler } from "../../server/handlers/device-message";
import { PresenceHandler } from "../../server/handlers/presence";
import { ReceiptsHandler } from "../../server/handlers/receipts";
import { FEDERATION_TYPING_TIMEOUT_MS, TypingHandler } from "../../server/handlers/typing";
import { createLogger } from "../../server/log";
import { openDatabase, type Database } from "../../server/store/database";
import { DeviceInboxStore } from "../../server/store/device-inbox-store";
import { DeviceStore } from "../../server/store/device-store";
import { PresenceStore } from "../../server/store/presence-store";
import { ReceiptStore } from "../../server/store/receipt-store";

const rejects = (p: Promise<unknown>, pattern: RegExp) => assert.rejects(p, (e: unknown) => e instanceof EduRejected && pattern.test(e.message));

describe("EDU handlers", () => {
  let db: Database;
  before(async () => (db = await openDatabase("pglite:memory")));
  after(() => db.close());

  it("m.typing: tracks typing users, expires them, and refuses users of other servers", async () => {
    let now = 0;
    const typing = new TypingHandler(() => now);
    await typing.onEdu("remote.test", { room_id: "!r:here.test", user_id: "@a:remote.test", typing: true });
    await typing.onEdu("remote.test", { room_id: "!r:here.test", user_id: "@b:remote.test", typing: true });
    assert.deepEqual(typing.typingUsers("!r:here.test"), ["@a:remote.test", "@b:remote.test"]);
    await typing.onEdu("remote.test", { room_id: "!r:here.test", user_id: "@a:remote.test", typing: false });
    assert.deepEqual(typing.typingUsers("!r:here.test"), ["@b:remote.test"]);
    now += FEDERATION_TYPING_TIMEOUT_MS;
    assert.deepEqual(typing.typingUsers("!r:here.test"), []);
    await rejects(typing.onEdu("evil.test", { room_id: "!r:here.test", user_id: "@a:remote.test", typing: true }), /does not come from its server/);
    await rejects(typing.onEdu("remote.test", { room_id: "!r:here.test", typing: "yes" }), /malformed m\.typing/);
  });

  it("m.presence: stores each state of the sending server's users", async () => {
    const store = new PresenceStore(db.prisma);
    const presence = new PresenceHandler(store, () => 42);
    await presence.onEdu("remote.test", { push: [{ user_id: "@a:remote.test", presence: "online", last_active_ago: 5000, currently_active: true, status_msg: "hi" }] });
    assert.deepEqual(await store.get("@a:remote.test"), { userId: "@a:remote.test", state: "online", lastActiveAgo: 5000, statusMsg: "hi", currentlyActive: true, updatedTs: 42 });
    await rejects(presence.onEdu("remote.test", { push: [{ user_id: "@x:other.test", presence: "online" }] }), /does not come from its server/);
    await rejects(presence.onEdu("remote.test", { push: [{ user_id: "@a:remote.test", presence: "dancing" }] }), /malformed m\.presence/);
    assert.equal((await store.get("@a:remote.test"))?.state, "online", "a refused EDU changes nothing");
  });

  it("m.receipt: keeps the newest receipt per room, type, user and thread", async () => {
    const store = new ReceiptStore(db.prisma);
    const receipts = new ReceiptsHandler(store, () => 7);
    await receipts.onEdu("remote.test", { "!r:here.test": { "m.read": { "@a:remote.test": { event_ids: ["$1"], data: { ts: 100 } } } } });
    await receipts.onEdu("remote.test", { "!r:here.test": { "m.read": { "@a:remote.test": { event_ids: ["$2"], data: { ts: 200 } } } } });
    await receipts.onEdu("remote.test", { "!r:here.test": { "m.read": { "@a:remote.test": { event_ids: ["$t"], data: { ts: 300, thread_id: "$root" } } } } });
    const rows = await store.forRoom("!r:here.test");
    assert.deepEqual(rows.map((r) => [r.threadId, r.eventIds]), [["", ["$2"]], ["$root", ["$t"]]]);
    await rejects(receipts.onEdu("remote.test", { "!r:here.test": { "m.read": { "@a:other.test": { event_ids: ["$1"], data: {} } } } }), /does not come/);
  });

  it("m.device_list_update: applies a joined chain, asks for a resync on a gap, ignores replays", async () => {
    const store = new DeviceStore(db.prisma);
    const devices = new DeviceListHandler(store);
    const update = (over: Record<string, unknown>) => devices.onDeviceListUpdate("remote.test", { user_id: "@a:remote.test", device_id: "D1", keys: { k: 1 }, ...over });
    await update({ stream_id: 5, prev_id: [] });
    await update({ stream_id: 6, prev_id: [5], device_id: "D2" });
    assert.deepEqual((await store.devices("@a:remote.test")).map((d) => d.deviceId), ["D1", "D2"]);
    await update({ stream_id: 7, prev_id: [6], deleted: true });
    assert.deepEqual((await store.devices("@a:remote.test")).map((d) => d.deviceId), ["D2"]);
    await update({ stream_id: 6, prev_id: [5] });
    assert.deepEqual((await store.getPosition("@a:remote.test")), { streamId: 7, needsResync: false }, "a replay changes nothing");
    await update({ stream_id: 10, prev_id: [9] });
    assert.deepEqual((await store.getPosition("@a:remote.test"))?.needsResync, true);
    assert.deepEqual(await store.usersNeedingResync(10), ["@a:remote.test"]);
    await rejects(devices.onDeviceListUpdate("other.test", { user_id: "@a:remote.test", device_id: "D", stream_id: 1 }), /does not come/);
  });

  it("m.signing_key_update: stores the user's cross-signing keys", async () => {
    const store = new DeviceStore(db.prisma);
    const devices = new DeviceListHandler(store);
    const master = { user_id: "@a:remote.test", usage: ["master"], keys: { "ed25519:M": "M" } };
    await devices.onSigningKeyUpdate("remote.test", { user_id: "@a:remote.test", master_key: master });
    assert.deepEqual(await store.crossSigningKeys("@a:remote.test"), { master });
  });

  it("m.direct_to_device: delivers once per message_id to local users only", async () => {
    const store = new DeviceInboxStore(db.prisma);
    const handler = new DeviceMessageHandler("here.test", store, () => 1);
    const edu = { sender: "@a:remote.test", type: "m.room_key_request", message_id: "m1", messages: { "@me:here.test": { DEV: { x: 1 } } } };
    await handler.onEdu("remote.test", edu);
    await handler.onEdu("remote.test", edu);
    assert.deepEqual(await store.messagesFor("@me:here.test", "DEV"), [{ userId: "@me:here.test", deviceId: "DEV", sender: "@a:remote.test", messageType: "m.room_key_request", content: '{"x":1}' }]);
    await rejects(handler.onEdu("remote.test", { ...edu, message_id: "m2", messages: { "@you:elsewhere.test": { D: {} } } }), /not on this server/);
  });

  it("the registry reports each EDU's outcome and never throws", async () => {
    const registry = new FederationRegistry(createLogger("error"));
    registry.registerEduHandler("m.ok", async () => {});
    registry.registerEduHandler("m.bad", async () => { throw new EduRejected("nope"); });
    registry.registerEduHandler("m.broken", async () => { throw new Error("db down"); });
    assert.equal(await registry.onEdu("o", "m.ok", {}), "ok");
    assert.equal(await registry.onEdu("o", "m.bad", {}), "rejected: nope");
    assert.equal(await registry.onEdu("o", "m.broken", {}), "failed: db down");
    assert.equal(await registry.onEdu("o", "m.unknown", {}), "ignored: no handler for m.unknown");
    assert.throws(() => registry.registerEduHandler("m.ok", async () => {}), /already registered/);
  });
});
