import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ConfigError, loadConfig, loadConfigFile, parseConfig } from "../../server/config";

const dir = mkdtempSync(join(tmpdir(), "switchyard-config-"));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    assert.ok(!e.message.includes("\n"), "config errors are one line");
    return e.message;
  }
  assert.fail("expected a ConfigError");
}

describe("config", () => {
  it("the shipped example config is valid and matches the defaults", () => {
    const c = loadConfigFile(new URL("../../config.example.yaml", import.meta.url).pathname);
    assert.equal(c.server_name, "example.org");
    assert.equal(c.federation.destination_min_retry_interval, 600_000);
    assert.equal(c.federation.destination_max_retry_interval, 7 * 86_400_000);
    assert.equal(c.key_refresh_interval, 86_400_000);
    assert.ok(c.database.url.startsWith("pglite:/"), "relative pglite paths become absolute");
    assert.ok(c.ip_range_blacklist.includes("127.0.0.0/8"));
  });

  it("fills defaults from a minimal file, relative to the file's folder", () => {
    const c = loadConfigFile(file("min.yaml", "server_name: a.test\n"));
    assert.deepEqual(c.listeners, [{ host: "127.0.0.1", port: 8008 }]);
    assert.equal(c.data_dir, join(dir, "data"));
    assert.equal(c.signing_key_path, join(dir, "data", "signing.key"));
    assert.equal(c.database.url, `pglite:${join(dir, "data", "db")}`);
    assert.equal(c.public_baseurl, "http://127.0.0.1:8008/");
    assert.deepEqual(c.federation_sender_instances, ["main"]);
    assert.equal(c.role, "main");
  });

  it("accepts PostgreSQL URLs and Synapse durations", () => {
    const c = parseConfig({ server_name: "a.test", database: { url: "postgresql://u@127.0.0.1/db" }, key_refresh_interval: "2h", federation: { destination_min_retry_interval: 5000 } });
    assert.equal(c.database.url, "postgresql://u@127.0.0.1/db");
    assert.equal(c.key_refresh_interval, 7_200_000);
    assert.equal(c.federation.destination_min_retry_interval, 5000);
    assert.equal(c.federation.destination_retry_multiplier, 2);
  });

  it("names the key and the problem in one line", () => {
    assert.match(errorOf(() => loadConfigFile(file("a.yaml", "server_name: a.test\nlisteners: [{port: 99999}]\n"))), /listeners\.0\.port: .*65535/);
    assert.match(errorOf(() => loadConfigFile(file("b.yaml", "server_name: a.test\nkey_refresh_interval: soon\n"))), /key_refresh_interval: expected a duration/);
    assert.match(errorOf(() => loadConfigFile(file("c.yaml", "server_name: a.test\ndatabase: {url: mysql://x}\n"))), /database\.url: expected "pglite:PATH"/);
    assert.match(errorOf(() => loadConfigFile(file("d.yaml", "server_name: a.test\nserver_nmae: typo\n"))), /unknown key "server_nmae"/);
    assert.match(errorOf(() => loadConfigFile(file("e.yaml", "listeners: []\n"))), /server_name/);
    assert.match(errorOf(() => loadConfigFile(file("f.yaml", "server_name: [unclosed\n"))), /not valid YAML/);
    assert.match(errorOf(() => loadConfigFile(file("g.yaml", "- a\n- b\n"))), /mapping/);
    assert.match(errorOf(() => loadConfigFile(join(dir, "missing.yaml"))), /cannot read config file .*ENOENT/);
    assert.match(errorOf(() => loadConfigFile(file("h.yaml", "server_name: a.test\nrole: reader\n"))), /role: .*main.*federation_sender/);
  });

  it("lets flags override the file and derive the rest from them", () => {
    const path = file("workers.yaml", "server_name: a.test\nfederation_sender_instances: [sender1, sender2]\n");
    const c = loadConfig(path, { role: "federation_sender", instance_name: "sender1", port: 8101 });
    assert.equal(c.role, "federation_sender");
    assert.equal(c.instance_name, "sender1");
    assert.equal(c.listeners[0]!.port, 8101);
    assert.equal(c.public_baseurl, "http://127.0.0.1:8101/");
    assert.deepEqual(c.federation_sender_instances, ["sender1", "sender2"]);
  });

  it("without a file, names the server after the port it listens on", () => {
    assert.equal(loadConfig(undefined, {}, {}).server_name, "localhost:8008");
    const c = loadConfig(undefined, { port: 8123 }, {});
    assert.equal(c.server_name, "localhost:8123");
    assert.equal(c.listeners[0]!.port, 8123);
    assert.equal(loadConfig(undefined, {}, { SWITCHYARD_SERVER_NAME: "named.test" }).server_name, "named.test");
  });

  it("reads the file named by SWITCHYARD_CONFIG", () => {
    const path = file("env.yaml", "server_name: env.test\n");
    assert.equal(loadConfig(undefined, {}, { SWITCHYARD_CONFIG: path }).server_name, "env.test");
  });
});
