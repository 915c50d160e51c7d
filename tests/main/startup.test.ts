/**
 * The real entry point (`server/main.ts`, as `npm start` runs it): first start on a new data dir, restart on an
 * existing one, graceful shutdown on SIGTERM, and a bad config refused in one line. Needs `npm run build` first.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { request } from "undici";
import { waitUntil } from "../support/wait";
import { freePort } from "../support/ports";

const ROOT = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "switchyard-main-"));


interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts", ...args], {
    cwd: ROOT, env: { ...process.env, NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" }, stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}


describe("server/main.ts", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("first start creates the key and admin token, restart keeps them, SIGTERM stops cleanly", async () => {
    const port = await freePort();
    const config = join(dir, "switchyard.yaml");
    writeFileSync(config, `server_name: startup.test\nlisteners: [{host: 127.0.0.1, port: ${port}}]\ndata_dir: ./data\nlog_level: info\n`);

    const first = start(["--config", config]);
    await waitUntil("first start", () => first.stdout().includes("Admin token"), { timeoutMs: 60_000, intervalMs: 50 });
    const token = readFileSync(join(dir, "data", "admin_token"), "utf8").trim();
    assert.ok(first.stdout().includes(token), "the admin token is printed on first start");
    assert.equal(statSync(join(dir, "data", "admin_token")).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "data", "signing.key")).mode & 0o777, 0o600);
    assert.match(first.stdout(), new RegExp(`Console: http://127\\.0\\.0\\.1:${port}/`));
    const keyDoc = (await (await request(`http://127.0.0.1:${port}/_matrix/key/v2/server`)).body.json()) as { verify_keys: Record<string, unknown> };
    const keyIds = Object.keys(keyDoc.verify_keys);
    const console_ = await request(`http://127.0.0.1:${port}/`);
    assert.equal(console_.statusCode, 307, "the console (Next) answers on the same port and sends a signed-out browser to /login");
    await console_.body.dump();

    first.child.kill("SIGTERM");
    assert.equal(await first.exited, 0);
    assert.match(first.stderr(), /shutting down signal=SIGTERM[\s\S]*stopped/);

    const second = start(["--config", config]);
    await waitUntil("restart", () => second.stdout().includes("Console:"), { timeoutMs: 60_000, intervalMs: 50 });
    assert.ok(!second.stdout().includes(token), "the token is printed only once");
    assert.match(second.stderr(), /ready/);
    const again = (await (await request(`http://127.0.0.1:${port}/_matrix/key/v2/server`)).body.json()) as { verify_keys: Record<string, unknown> };
    assert.deepEqual(Object.keys(again.verify_keys), keyIds, "the signing key survives a restart");
    second.child.kill("SIGINT");
    assert.equal(await second.exited, 0);
  });

  it("refuses a bad config with one line naming the key and the problem", async () => {
    const config = join(dir, "bad.yaml");
    writeFileSync(config, "server_name: bad.test\nlisteners: [{port: 99999}]\n");
    const run = start(["--config", config]);
    assert.equal(await run.exited, 1);
    const lines = run.stderr().trim().split("\n");
    assert.equal(lines.length, 1, run.stderr());
    assert.match(lines[0]!, /^switchyard: .*bad\.yaml: invalid config: listeners\.0\.port: /);

    const flags = start(["--config", config, "--bogus"]);
    assert.equal(await flags.exited, 1);
    assert.match(flags.stderr(), /Unknown option '--bogus'/);
  });
});
