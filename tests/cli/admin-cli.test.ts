/**
 * `admin` against a running server's console API over HTTP (a test HomeServer with its tRPC endpoint on
 * loopback): tables, --json, actions, the generic procedure call, and where the URL and token come from.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify as toYaml } from "yaml";
import { serveConsoleApi, type ConsoleApi } from "../support/console-api";
import { startTestHomeServer, type TestHomeServer } from "../support/homeserver";
import { runCliInProcess } from "../support/cli";
import { freePort } from "../support/ports";

let server: TestHomeServer;
let api: ConsoleApi;
let configDir: string;

before(async () => {
  server = await startTestHomeServer({ server_name: "cli.test" });
  api = await serveConsoleApi(server.hs);
  for (const d of ["down.test", "down2.test", "down3.test"]) await server.hs.backoff.recordFailure(d, new Error("connection refused"));
  configDir = mkdtempSync(join(tmpdir(), "switchyard-admin-cli-"));
});

after(async () => {
  await api.close();
  await server.stop();
  rmSync(configDir, { recursive: true, force: true });
});



const admin = (...args: string[]) => runCliInProcess(["admin", "--url", api.url, "--token", server.hs.adminToken, ...args]);

describe("admin destinations", () => {
  it("lists destinations as a table, filtered and paged, or as JSON", async () => {
    const table = await admin("destinations", "list");
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^DESTINATION +STATE +NEXT RETRY +INTERVAL +FAILING SINCE +PDUS +EDUS +LAST ERROR$/);
    assert.match(lines[2]!, /^down\.test +backing off +in (9m 5\ds|10m) +10m +\ds ago +0 +0 +-$/);
    assert.equal(lines.at(-1), "1-3 of 3");

    const page = await admin("--json", "destinations", "list", "--state", "backing_off", "--order-by", "destination", "--dir", "b", "--limit", "2");
    const json = JSON.parse(page.stdout) as { destinations: { destination: string; state: string }[]; total: number; next_cursor: string };
    assert.deepEqual([json.destinations.map((d) => d.destination), json.total, json.next_cursor], [["down3.test", "down2.test"], 3, "2"]);
    const next = await admin("destinations", "list", "--state", "backing_off", "--dir", "b", "--limit", "2", "--cursor", "2");
    assert.match(next.stdout, /^down\.test /m);
    assert.match(next.stdout, /\n3-3 of 3\n$/);
  });

  it("shows one destination", async () => {
    const shown = await admin("destinations", "show", "down.test");
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^state +backing off$/m);
    assert.match(shown.stdout, /^retry interval +10m$/m);
    assert.match(shown.stdout, /^sent by +main$/m);
    const missing = await admin("destinations", "show", "nowhere.test");
    assert.deepEqual([missing.code, missing.stderr], [1, "error: destinations.get: unknown destination nowhere.test (NOT_FOUND)\n"]);
  });

  it("retries and resets, saying what happened; a reset with nothing to reset fails", async () => {
    const retried = await admin("destinations", "retry", "down.test");
    assert.deepEqual([retried.code, retried.stdout], [0, "down.test: retry timings cleared; its queue was started\n"]);
    assert.equal((await server.hs.stores.destinations.getRetryTimings("down.test"))!.retryInterval, 0);
    const reset = await admin("destinations", "reset", "down2.test");
    assert.deepEqual([reset.code, reset.stdout], [0, "down2.test: retry timings reset\n"]);
    const again = await admin("destinations", "reset", "down2.test");
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error: destinations\.reset: The retry timing does not need to be reset for this destination\. \(BAD_REQUEST\)\n$/);
  });

  it("explains its usage", async () => {
    assert.match((await admin("destinations", "drop", "x")).stderr, /^error: destinations: expected list, show NAME, retry NAME or reset NAME, got "drop"\n$/);
    assert.match((await admin("destinations", "show")).stderr, /^error: usage: admin destinations show NAME\n$/);
    assert.match((await admin("destinations", "list", "--limit", "many")).stderr, /--limit: expected a number/);
  });
});

describe("admin replication positions", () => {
  it("prints instances and stream positions", async () => {
    const run = await admin("replication", "positions");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^INSTANCE +ALIVE +LAST SEEN$/m);
    assert.match(run.stdout, /^STREAM +WRITER +POSITION +CONSUMER +PROCESSED +LAG +LAG TIME +STALLED$/m);
    const json = JSON.parse((await admin("--json", "replication", "positions")).stdout) as { instances: unknown[]; writers: unknown[] };
    assert.ok(Array.isArray(json.instances) && Array.isArray(json.writers));
  });
});

describe("admin PROCEDURE [JSON]", () => {
  it("calls queries and mutations and prints their JSON", async () => {
    const health = await admin("server.health");
    assert.equal((JSON.parse(health.stdout) as { server_name: string }).server_name, "cli.test");
    // a mutation is found out (the server answers 405 to a GET) and sent as a POST
    const retried = await admin("destinations.retryNow", '{"destination":"down3.test"}');
    assert.deepEqual(JSON.parse(retried.stdout), { destination: "down3.test", owner: "main", was_backing_off: true, woken: true });
    const bad = await admin("destinations.get", '{"destination":""}');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: destinations\.get: destination: .* \(BAD_REQUEST\)\n$/);
    assert.match((await admin("replication.onPositions")).stderr, /is a subscription/);
    assert.match((await admin("server.health", "[1]")).stderr, /expected a JSON object on the JSON argument, got an array/);
  });

  it("is refused without the right token, and says when the server is not there", async () => {
    const wrong = await runCliInProcess(["admin", "--url", api.url, "--token", "not-the-token-at-all", "server.health"]);
    assert.deepEqual([wrong.code, wrong.stderr], [1, "error: the server refused the admin token (HTTP 401): pass --token or check the config's admin token\n"]);
    const closed = await freePort();
    const down = await runCliInProcess(["admin", "--url", `http://127.0.0.1:${closed}/`, "--token", "x", "server.health"]);
    assert.equal(down.stderr, `error: cannot reach the server at http://127.0.0.1:${closed}/ (ECONNREFUSED); is it running? (--url)\n`);
  });

  it("takes the URL from public_baseurl and the token from data_dir/admin_token of the config", async () => {
    const path = join(configDir, "config.yaml");
    writeFileSync(path, toYaml({ server_name: "cli.test", public_baseurl: api.url, data_dir: server.dataDir }));
    const run = await runCliInProcess(["admin", "--config", path, "server.health"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { server_name: string }).server_name, "cli.test");
    writeFileSync(path, toYaml({ server_name: "cli.test", public_baseurl: api.url, data_dir: join(configDir, "empty") }));
    assert.match((await runCliInProcess(["admin", "--config", path, "server.health"])).stderr, /^error: no admin token: pass --token/);
  });
});
