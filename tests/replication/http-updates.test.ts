import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { createReplication } from "../../server/replication";
import { ReplicationHttpClient, ReplicationHttpError, makeHttpUpdateFunction } from "../../server/replication/http-updates";
import { LocalBus } from "../../server/replication/local-bus";
import { EventsStream, MemoryStreamWriter, TypingStream, eventRow } from "../../server/replication/streams";
import { SECRET, collect, log, rowsOf, startReplicationServer, type ReplicationServer } from "./helpers";

const ev = (n: number) => eventRow({ event_id: `$${n}`, room_id: "!r:main.test", type: "m.room.message", state_key: null, redacts: null, relates_to: null, membership: null, rejected: false, outlier: false });

describe("catching up over HTTP (get_repl_stream_updates)", () => {
  const events = new MemoryStreamWriter(EventsStream);
  const typing = new MemoryStreamWriter(TypingStream);
  let server: ReplicationServer;
  let base: string;
  before(async () => {
    for (let n = 1; n <= 250; n++) events.append(ev(n));
    server = await startReplicationServer([events, typing], "main");
    base = `http://127.0.0.1:${server.port}/_synapse/replication/get_repl_stream_updates`;
  });
  after(() => server.close());

  it("fills a gap from the writer, about 100 rows a call while limited, before the position moves", async () => {
    const bus = new LocalBus();
    const main = createReplication({ instanceName: "main", transport: bus.transport(), log, writers: [events, typing] });
    const client = new ReplicationHttpClient({ instanceMap: { main: { host: "127.0.0.1", port: server.port } }, secret: SECRET, instanceName: "sender1" });
    const sender = createReplication({ instanceName: "sender1", transport: bus.transport(), log, catchUp: (s) => makeHttpUpdateFunction(client, s) });
    sender.dataHandler.seedPosition("events", "main", 0);
    const got = collect(sender.dataHandler, EventsStream);
    const first = server.requests.length;
    await main.start();
    await sender.start();
    try {
      assert.equal(await sender.dataHandler.waitForPosition("events", "main", 250), true);
      assert.deepEqual(rowsOf(got).map(([t]) => t), Array.from({ length: 250 }, (_, i) => i + 1), "every row, once, in order");
      assert.deepEqual(rowsOf(got)[41]![1], ev(42));
      const calls = server.requests.slice(first);
      assert.deepEqual(calls.map((u) => new URL(u, "http://x").searchParams.get("from_token")), ["0", "100", "200"]);
      for (const u of calls) assert.match(u, /^\/_synapse\/replication\/get_repl_stream_updates\/events\/[0-9a-f]{16}\?from_token=\d+&upto_token=250$/);
      const stats = sender.commandHandler.stats();
      assert.deepEqual([stats.catchUps, stats.catchUpRows, stats.catchUpFailures], [1, 250, 0]);
      // The typing stream was unseeded: it started at the writer's position without fetching.
      assert.equal(sender.dataHandler.position("typing", "main"), 0);
    } finally {
      await sender.stop();
      await main.stop();
      await client.close();
    }
  });

  it("answers with Synapse's body, and a page never splits a token", async () => {
    typing.append(["!a:s", []], ["!b:s", ["@u:s"]]);
    const res = await request(`${base}/typing?from_token=0&upto_token=1`, { headers: { authorization: `Bearer ${SECRET}` } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { updates: [[1, ["!a:s", []]], [1, ["!b:s", ["@u:s"]]]], upto_token: 1, limited: false });
    const same = await request(`${base}/typing?from_token=1&upto_token=1`, { headers: { authorization: `Bearer ${SECRET}` } });
    assert.deepEqual(await same.body.json(), { updates: [], upto_token: 1, limited: false });
  });

  it("wants the replication secret, known streams and integer tokens", async () => {
    const cases: Array<[string, Record<string, string>, number, string]> = [
      [`${base}/events/abc?from_token=0&upto_token=1`, {}, 401, "M_MISSING_TOKEN"],
      [`${base}/events/abc?from_token=0&upto_token=1`, { authorization: "Basic x" }, 401, "M_MISSING_TOKEN"],
      [`${base}/events/abc?from_token=0&upto_token=1`, { authorization: "Bearer wrong" }, 403, "M_FORBIDDEN"],
      [`${base}/nope/abc?from_token=0&upto_token=1`, { authorization: `Bearer ${SECRET}` }, 400, "M_UNKNOWN"],
      [`${base}/events/abc?upto_token=1`, { authorization: `Bearer ${SECRET}` }, 400, "M_MISSING_PARAM"],
      [`${base}/events/abc?from_token=x&upto_token=1`, { authorization: `Bearer ${SECRET}` }, 400, "M_INVALID_PARAM"],
    ];
    for (const [url, headers, status, errcode] of cases) {
      const res = await request(url, { headers });
      assert.equal(res.statusCode, status, url);
      assert.equal(((await res.body.json()) as { errcode: string }).errcode, errcode, url);
    }
  });

  it("reports a refused or unknown instance as an error the handler can retry", async () => {
    const wrong = new ReplicationHttpClient({ instanceMap: { main: { host: "127.0.0.1", port: server.port } }, secret: "not-it", instanceName: "sender1" });
    try {
      await assert.rejects(wrong.getStreamUpdates("events", "main", 0, 1), (e: unknown) => e instanceof ReplicationHttpError && e.status === 403 && e.errcode === "M_FORBIDDEN");
      await assert.rejects(wrong.getStreamUpdates("events", "elsewhere", 0, 1), /not in instance_map/);
      await assert.rejects(wrong.getStreamUpdates("events", "sender1", 0, 1), /ourselves/);
    } finally {
      await wrong.close();
    }
  });
});
