import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { HomeServerOptions } from "../../server/homeserver";
import { startFederation, type TestHomeServer } from "../support/homeserver";
import { TableEventSource } from "../support/sender-events";
import { waitFor } from "../transport/helpers";

/** Two real Switchyards on loopback; A's sender reads its events from a TableEventSource. */
let a: TestHomeServer;
let b: TestHomeServer;

let source: TableEventSource;

before(async () => {
  const senderEvents: HomeServerOptions["senderEvents"] = ({ prisma, serverName, signingKey }) => {
    const s = new TableEventSource(prisma, serverName, signingKey);
    if (serverName === "a.test") source = s;
    return s;
  };
  const servers = await startFederation([{ server_name: "a.test" }, { server_name: "b.test" }], { senderEvents });
  a = servers[0]!;
  b = servers[1]!;
});
after(async () => {
  await Promise.all([a.stop(), b.stop()]);
});

/** Waits until an async check holds (bounded, so a bug fails fast). */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("FederationSender between real homeservers", () => {
  it("delivers PDUs, typing and to-device EDUs that the receiver verifies and accepts", async () => {
    const room = "!shared:a.test";
    await b.hs.stores.rooms.storeRoom(room, "10", Date.now());
    source.setHosts(room, ["a.test", "b.test"]);
    const event = await source.persist({ roomId: room });
    await a.hs.sender.sendTyping(room, "@alice:a.test", true);
    await a.hs.stores.deviceOutbox.addToDeviceMessages("b.test", [{
      sender: "@alice:a.test", type: "m.room_key_request", message_id: "msg1", messages: { "@bob:b.test": { DEVICE: { action: "request" } } },
    }], Date.now());
    await a.hs.sender.sendDeviceMessages(["b.test"]);

    await waitFor(() => b.hs.typing.typingUsers(room).includes("@alice:a.test"), "B to see alice typing");
    await eventually(async () => (await b.hs.stores.deviceInbox.messagesFor("@bob:b.test", "DEVICE")).length === 1, "the to-device message in B's inbox");
    // B's answer for the PDU is {} once its signatures and hashes checked out (it records answers in batches)
    await eventually(async () => (await b.hs.stores.inbound.recentTransactions("a.test", 10))
      .some((t) => JSON.stringify((JSON.parse(t.responseJson) as { pdus: Record<string, unknown> }).pdus[event.eventId]) === "{}"), "B to accept the PDU");
    await waitFor(() => a.hs.sender.queueState("b.test")?.transmissionLoopRunning === false, "A's queue to drain");
    assert.equal(a.hs.sender.queueState("b.test")!.pendingEduTotal, 0);
    assert.deepEqual(await a.hs.stores.deviceOutbox.pendingCounts("b.test"), { toDevice: 0, deviceLists: 0 }, "delivered rows leave the outbox");
  });

  it("a verified request from a server we back off from ends the backoff and wakes its queue", async () => {
    await a.hs.backoff.recordFailure("b.test", new Error("B was unreachable"));
    assert.equal((await a.hs.stores.destinations.getRetryTimings("b.test"))!.retryInterval, 600_000);
    a.hs.sender.buildAndSendEdu("b.test", "m.typing", { room_id: "!other:a.test", user_id: "@carol:a.test", typing: true }, "carol");
    await waitFor(() => a.hs.sender.queueState("b.test")?.transmissionLoopRunning === false, "A's loop to give up while backing off");
    assert.equal(a.hs.sender.queueState("b.test")!.pendingEduTotal, 1);
    assert.deepEqual(b.hs.typing.typingUsers("!other:a.test"), []);

    // any request B signs and A verifies: here an empty transaction
    await b.hs.transportClient.sendTransaction("a.test", "wake-1", { origin: "b.test", origin_server_ts: Date.now(), pdus: [], edus: [] });
    await waitFor(() => b.hs.typing.typingUsers("!other:a.test").includes("@carol:a.test"), "the queued EDU to reach B");
    assert.deepEqual(await a.hs.stores.destinations.getRetryTimings("b.test"), { retryLastTs: 0, retryInterval: 0, failureTs: null });
  });
});
