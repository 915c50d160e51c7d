/**
 * `request` and `check-server` against real Switchyard instances on loopback: the CLI signs as cli.test with the
 * key of a running cli.test instance (so the target can fetch it and check the signature), and reaches target.test
 * through federation_domain_overrides, over plain HTTP or over TLS with the transport tests' certificate.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { stringify as toYaml } from "yaml";
import { SERVER_VERSION } from "../../server/version";
import { startFederation, type TestHomeServer } from "../support/homeserver";
import { runCliInProcess, runCliProcess, type CliRun } from "../support/cli";
import { freePort } from "../support/ports";

const ROOT = join(import.meta.dirname, "..", "..");
const fixture = (name: string) => readFileSync(join(ROOT, "tests", "transport", "fixtures", name), "utf8");

type Run = CliRun;

const cli = runCliProcess;


function assertOneLineError(run: Run, message: RegExp): void {
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /^error: [^\n]+\n$/);
  assert.match(run.stderr, message);
}

/** "HTTP <status>" then the pretty JSON body. */
function parseResponse(stdout: string): { status: number; body: unknown } {
  const match = /^HTTP (\d{3})\n([\s\S]*)$/.exec(stdout);
  assert.ok(match, `unexpected output: ${stdout}`);
  assert.match(match[2]!, /^\{\n {2}"/, "the body is printed with a 2-space indent");
  return { status: Number(match[1]), body: JSON.parse(match[2]!) };
}


describe("federation CLI commands against real servers", { concurrency: 4 }, () => {
  let dir: string;
  let cliServer: TestHomeServer;
  let target: TestHomeServer;
  let tlsFront: Server;
  let config: string;
  let tlsConfig: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-fed-cli-"));
    [cliServer, target] = (await startFederation([{ server_name: "cli.test" }, { server_name: "target.test" }])) as [TestHomeServer, TestHomeServer];
    // target.test again, behind TLS with a certificate from a CA nobody trusts by default
    tlsFront = createHttpsServer({ cert: fixture("server-cert.pem"), key: fixture("server-key.pem") }, (req, res) => void target.hs.handleRequest(req, res));
    await new Promise<void>((resolve) => tlsFront.listen(0, "127.0.0.1", resolve));
    const tlsPort = (tlsFront.address() as AddressInfo).port;

    const writeConfig = (name: string, overrides: Record<string, string>) => {
      const path = join(dir, name);
      writeFileSync(path, toYaml({
        server_name: "cli.test",
        data_dir: join(dir, "data"),
        signing_key_path: join(cliServer.dataDir, "signing.key"),
        federation_domain_overrides: overrides,
      }));
      return path;
    };
    config = writeConfig("switchyard.yaml", {
      "target.test": target.baseUrl,
      "wrong.test": target.baseUrl,
      "refused.test": `http://127.0.0.1:${await freePort()}`,
    });
    tlsConfig = writeConfig("tls.yaml", { "target.test": `https://127.0.0.1:${tlsPort}` });
  });

  after(async () => {
    tlsFront?.closeAllConnections();
    await new Promise((resolve) => (tlsFront ? tlsFront.close(resolve) : resolve(undefined)));
    await Promise.all([cliServer?.stop(), target?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test("a signed GET of /version prints the status and the body", async () => {
    const run = await cli(["request", "--config", config, "--destination", "target.test", "/_matrix/federation/v1/version"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    assert.deepEqual(parseResponse(run.stdout), { status: 200, body: { server: { name: "Switchyard", version: SERVER_VERSION } } });
  });

  test("a signed PUT /send with --data - delivers the transaction", async () => {
    const typing = { edu_type: "m.typing", content: { room_id: "!room:target.test", user_id: "@alice:cli.test", typing: true } };
    const txn = { origin: "cli.test", origin_server_ts: Date.now(), pdus: [], edus: [typing] };
    const run = await cli(["request", "-X", "PUT", "--data", "-", "--config", config, "--destination", "target.test", "/_matrix/federation/v1/send/cli1"], JSON.stringify(txn));
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(parseResponse(run.stdout), { status: 200, body: { pdus: {} } });
    // The target checked our signature with cli.test's published key, then handled the EDU.
    assert.deepEqual(target.hs.typing.typingUsers("!room:target.test"), ["@alice:cli.test"]);
  });

  test("a request for another destination name is refused with 401 and exit 1", async () => {
    const txn = JSON.stringify({ origin: "cli.test", origin_server_ts: Date.now(), pdus: [], edus: [] });
    const run = await cli(["request", "-X", "PUT", "--data", txn, "--config", config, "--destination", "wrong.test", "/_matrix/federation/v1/send/wrong1"]);
    assertOneLineError(run, /^error: http: wrong\.test answered HTTP 401 M_UNAUTHORIZED/);
    const { status, body } = parseResponse(run.stdout);
    assert.equal(status, 401);
    assert.equal((body as { errcode: string }).errcode, "M_UNAUTHORIZED");
  });

  test("connection refused is a connect error", async () => {
    const run = await cli(["request", "--config", config, "--destination", "refused.test", "/_matrix/federation/v1/version"]);
    assertOneLineError(run, /^error: connect: .*ECONNREFUSED/);
    assert.equal(run.stdout, "");
  });

  test("check-server reports discovery, the connection, verified keys and the version", async () => {
    const run = await cli(["check-server", "--config", config, "target.test"]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stderr, "");
    const keyId = target.hs.ownKeys.signingKey.keyId;
    for (const line of [
      `federation_domain_overrides sends target.test to ${target.baseUrl}`,
      `127.0.0.1:${target.port}: OK, plain HTTP`,
      "Server keys: OK, signature verified",
      `${keyId} ${target.hs.ownKeys.signingKey.publicKeyBase64}`,
      `Version: Switchyard ${SERVER_VERSION}`,
      "Result: OK",
    ]) assert.ok(run.stdout.includes(line), `missing "${line}" in:\n${run.stdout}`);
  });

  test("check-server --json prints the report as JSON", async () => {
    const run = await cli(["check-server", "--json", "--config", config, "target.test"]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.ok, true);
    assert.deepEqual(report.problems, []);
    assert.equal(report.resolution.method, "override");
    assert.equal(report.resolution.check_ip_range, false);
    assert.deepEqual(report.connections, [{ target: `127.0.0.1:${target.port}`, address: "127.0.0.1", ok: true }]);
    const { keyId, publicKeyBase64 } = target.hs.ownKeys.signingKey;
    assert.deepEqual(report.keys.verify_keys, { [keyId]: publicKeyBase64 });
    assert.ok(report.keys.valid_until_ts > Date.now());
    assert.deepEqual(report.version, { ok: true, name: "Switchyard", version: SERVER_VERSION });
  });

  test("check-server over TLS describes the certificate and fails when it is not trusted", async () => {
    const run = await cli(["check-server", "--json", "--config", tlsConfig, "target.test"]);
    assertOneLineError(run, /target\.test: \d+ problems?, first: .*certificate not trusted/);
    const report = JSON.parse(run.stdout);
    assert.equal(report.ok, false);
    const [connection] = report.connections;
    assert.equal(connection.ok, true);
    assert.equal(connection.tls.server_name, "target.test");
    assert.equal(connection.tls.verified, false);
    assert.ok(connection.tls.verify_error);
    assert.equal(connection.tls.name_matches, true);
    assert.match(connection.tls.protocol, /^TLSv1\.[23]$/);
    assert.ok(connection.tls.certificate.subject_alt_names.includes("DNS:target.test"));
    assert.ok(connection.tls.certificate.valid_to.startsWith("2126-"));
    // the engine's requests refuse that certificate as well
    assert.equal(report.keys.error.class, "tls");
    assert.equal(report.version.error.class, "tls");
  });

  test("--no-verify-tls lets a request through a test network's certificate", async () => {
    const run = await cli(["request", "--no-verify-tls", "--config", tlsConfig, "--destination", "target.test", "/_matrix/federation/v1/version"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(parseResponse(run.stdout).status, 200);
  });

  test("check-server applies the IP range blacklist to addresses not named by an override", async () => {
    // an IP literal is dialled as it is; loopback is blacklisted by default, so nothing is sent
    const run = await runCliInProcess(["check-server", "--json", "--config", config, `127.0.0.1:${target.port}`]);
    assertOneLineError(run, /refusing to connect to blacklisted address 127\.0\.0\.1/);
    const report = JSON.parse(run.stdout);
    assert.equal(report.resolution.method, "ip_literal");
    assert.equal(report.resolution.tls_server_name, null);
    assert.equal(report.connections[0].error.class, "blocked_ip");
    assert.equal(report.keys.error.class, "blocked_ip");
    assert.equal(report.version.error.class, "blocked_ip");
  });

  test("bad flags and input give one error line before anything is sent", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["request", "--config", config, "/_matrix/federation/v1/version"], /--destination is required/],
      [["request", "--config", config, "--destination", "target.test"], /expected one PATH, got none/],
      [["request", "--bogus", "--destination", "target.test", "/x"], /Unknown option '--bogus'.*usage: .* request /],
      [["request", "-X", "DELETE", "--destination", "target.test", "/x"], /federation requests are GET, PUT, POST, not DELETE/],
      [["request", "-X", "GET", "--data", "{}", "--destination", "target.test", "/x"], /a GET request has no body/],
      [["request", "--data", "{", "--destination", "target.test", "/x"], /--data is not valid JSON/],
      [["request", "--destination", "target.test", "no-slash"], /PATH must start with \//],
      [["request", "--config", join(dir, "absent.yaml"), "--destination", "target.test", "/x"], /cannot read config file .*absent\.yaml/],
      [["check-server", "--config", config], /expected one server name, got none/],
      [["check-server", "--config", config, "a.test", "b.test"], /expected one server name, got 2/],
    ];
    for (const [args, message] of cases) {
      const run = await runCliInProcess(args);
      assertOneLineError(run, message);
      assert.equal(run.stdout, "", args.join(" "));
    }
  });

  test("without a signing key file the error says how to get one", async () => {
    const keyless = join(dir, "keyless.yaml");
    writeFileSync(keyless, toYaml({ server_name: "cli.test", data_dir: join(dir, "empty") }));
    const run = await runCliInProcess(["request", "--config", keyless, "--destination", "target.test", "/_matrix/federation/v1/version"]);
    assertOneLineError(run, /no signing key at .*empty\/signing\.key: start the server once to create it, or pass --config FILE/);
  });
});
