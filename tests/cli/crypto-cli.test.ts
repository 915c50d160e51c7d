import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { MESSAGE_EVENT, MINIMAL_EVENT } from "../support/spec-vectors";
import { runCliProcess, type CliRun } from "../support/cli";

const dir = mkdtempSync(join(tmpdir(), "switchyard-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SPEC_KEY_FILE = join(dir, "spec.key");
writeFileSync(SPEC_KEY_FILE, "ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1\n");
const SPEC_PUBLIC_KEY = "ed25519:1=XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI";

type Run = CliRun;

const cli = runCliProcess;

function assertOk(run: Run, stdout: string): void {
  assert.equal(run.stderr, "");
  assert.equal(run.stdout, stdout);
  assert.equal(run.code, 0);
}

/** Exit 1, nothing on stdout, exactly one `error: ...` line on stderr and no stack trace. */
function assertFails(run: Run, message: RegExp): void {
  assert.equal(run.code, 1, run.stderr);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /^error: [^\n]+\n$/);
  assert.match(run.stderr, message);
}

// A Synapse-created event with the IDs gomatrixserverlib expects ($…/… in v3, $…_… from v4).
const JKI_CREATE =
  '{"auth_events": [], "prev_events": [], "type": "m.room.create", "room_id": "!uXDCzlYgCTHtiWCkEx:jki.re", "sender": "@erikj:jki.re", "content": {"room_version": "5", "predecessor": {"room_id": "!gdRMqOrTFdOCYHNwOo:half-shot.uk", "event_id": "$LP7ROBc4b+cMc1UE9haIz8q5AK2AIW4eJ90FfKLvyZI"}, "creator": "@erikj:jki.re"}, "depth": 1, "prev_state": [], "state_key": "", "origin": "jki.re", "origin_server_ts": 1560284621137, "hashes": {"sha256": "IX6zuNiJpJPNf70BLleL3HSCpjKeq9Uhu7uUpyDjBmc"}, "signatures": {"jki.re": {"ed25519:auto": "O4IyFfF2PPtGp5uaDm8t57dZbdh8vc8Q64LgCwvzYRVItAMI0uisfiAFaxkVT7MRpzh6N2QNN5NMRXZKmgPYDA"}}, "unsigned": {"age": 1321650}}';

// Each run starts node with tsx (~0.3 s of CPU), so runs overlap.
const concurrency = 4;

describe("crypto CLI: spec vectors", { concurrency }, () => {
  test("canonical-json", async () => {
    assertOk(await cli(["canonical-json"], '{\n  "本": 2,\n  "日": {"b": "\\u65E5", "a": null}\n}'), '{"日":{"a":null,"b":"日"},"本":2}\n');
  });

  test("sign-json signs {} and {one, two}", async () => {
    assertOk(
      await cli(["sign-json", "--server-name", "domain", "--key-file", SPEC_KEY_FILE], "{}"),
      '{"signatures":{"domain":{"ed25519:1":"K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}}}\n',
    );
    assertOk(
      await cli(["sign-json", "--server-name", "domain", "--key-file", SPEC_KEY_FILE], '{"two":"Two","one":1}'),
      '{"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}},"two":"Two"}\n',
    );
  });

  test("verify-json accepts the vector by public key or key file, refuses a changed object", async () => {
    const signed = '{"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}},"two":"Two"}';
    assertOk(await cli(["verify-json", "--server-name", "domain", "--public-key", SPEC_PUBLIC_KEY], signed), '{"valid":true}\n');
    assertOk(await cli(["verify-json", "--server-name", "domain", "--key-file", SPEC_KEY_FILE], signed), '{"valid":true}\n');
    assertFails(await cli(["verify-json", "--server-name", "domain", "--public-key", SPEC_PUBLIC_KEY], signed.replace('"one":1', '"one":2')), /bad signature from domain with key ed25519:1/);
    assertFails(await cli(["verify-json", "--server-name", "other", "--public-key", SPEC_PUBLIC_KEY], signed), /not signed by other with any of the given keys \(ed25519:1\)/);
  });

  test("content-hash", async () => {
    assertOk(await cli(["content-hash"], JSON.stringify(MINIMAL_EVENT)), '{"sha256":"5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"}\n');
  });

  test("sign-event reproduces both appendix events", async () => {
    assertOk(
      await cli(["sign-event", "--room-version", "10", "--server-name", "domain", "--key-file", SPEC_KEY_FILE], JSON.stringify(MINIMAL_EVENT)),
      '{"auth_events":[],"content":{},"depth":3,"hashes":{"sha256":"5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"},"origin":"domain","origin_server_ts":1000000,"prev_events":[],"room_id":"!x:domain","sender":"@a:domain","signatures":{"domain":{"ed25519:1":"KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"}},"type":"X","unsigned":{"age_ts":1000000}}\n',
    );
    assertOk(
      await cli(["sign-event", "--room-version", "1", "--server-name", "domain", "--key-file", SPEC_KEY_FILE], JSON.stringify(MESSAGE_EVENT)),
      '{"content":{"body":"Here is the message content"},"event_id":"$0:domain","hashes":{"sha256":"onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"},"origin":"domain","origin_server_ts":1000000,"room_id":"!r:domain","sender":"@u:domain","signatures":{"domain":{"ed25519:1":"Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"}},"type":"m.room.message","unsigned":{"age_ts":1000000}}\n',
    );
  });

  test("event-id and reference-hash per room version", async () => {
    assertOk(await cli(["event-id", "--room-version", "3"], JKI_CREATE), '{"event_id":"$RrGxF28UrHLmoASHndYb9Jb/1SFww2ptmtur9INS438"}\n');
    assertOk(await cli(["event-id", "--room-version", "4"], JKI_CREATE), '{"event_id":"$RrGxF28UrHLmoASHndYb9Jb_1SFww2ptmtur9INS438"}\n');
    assertOk(await cli(["reference-hash", "--room-version", "5"], JKI_CREATE), '{"sha256":"RrGxF28UrHLmoASHndYb9Jb/1SFww2ptmtur9INS438"}\n');
    assertOk(await cli(["event-id", "--room-version", "1"], JSON.stringify(MESSAGE_EVENT)), '{"event_id":"$0:domain"}\n');
  });

  test("event-id also prints the room ID a v12 create event defines", async () => {
    const create = { type: "m.room.create", state_key: "", sender: "@a:x", content: { room_version: "12" }, origin_server_ts: 1, depth: 1, prev_events: [], auth_events: [] };
    const run = await cli(["event-id", "--room-version", "12"], JSON.stringify(create));
    assert.equal(run.code, 0);
    const { event_id, room_id } = JSON.parse(run.stdout) as { event_id: string; room_id: string };
    assert.match(event_id, /^\$[A-Za-z0-9_-]{43}$/);
    assert.equal(room_id, "!" + event_id.slice(1));
  });

  test("redact applies the room version's rules", async () => {
    const create = JSON.stringify({ type: "m.room.create", sender: "@a:x", origin: "x", content: { creator: "@a:x", room_version: "10" }, unsigned: { age: 1 } });
    assertOk(await cli(["redact", "--room-version", "10"], create), '{"content":{"creator":"@a:x"},"origin":"x","sender":"@a:x","type":"m.room.create"}\n');
    assertOk(await cli(["redact", "--room-version", "11"], create), '{"content":{"creator":"@a:x","room_version":"10"},"sender":"@a:x","type":"m.room.create"}\n');
  });

  test("generate-key prints a key file line that signs and verifies", async () => {
    const run = await cli(["generate-key", "--version", "k1"]);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^ed25519 k1 [A-Za-z0-9+/]{43}\n$/);
    const keyFile = join(dir, "generated.key");
    writeFileSync(keyFile, run.stdout);
    const signed = await cli(["sign-json", "--server-name", "s.example", "--key-file", keyFile], '{"a":1}');
    assertOk(await cli(["verify-json", "--server-name", "s.example", "--key-file", keyFile], signed.stdout), '{"valid":true}\n');
    assert.match((await cli(["generate-key"])).stdout, /^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}\n$/);
  });

  test("help lists the commands and exits 0", async () => {
    const run = await cli(["help"]);
    assert.equal(run.code, 0);
    for (const name of ["generate-key", "canonical-json", "sign-json", "verify-json", "content-hash", "reference-hash", "event-id", "redact", "sign-event"]) {
      assert.match(run.stdout, new RegExp(`^  ${name} `, "m"));
    }
  });
});

describe("crypto CLI: bad input and flags", { concurrency }, () => {
  const badKeyFile = join(dir, "bad.key");
  writeFileSync(badKeyFile, "ed25519 1\n");
  const cases: Array<[string, string[], string, RegExp]> = [
    ["no command", [], "", /^error: no command given; commands: generate-key, /],
    ["unknown command", ["frobnicate"], "", /unknown command "frobnicate"/],
    ["unknown flag", ["canonical-json", "--pretty"], "{}", /Unknown option '--pretty' \(usage: npm run --silent cli -- canonical-json\)/],
    ["flag without value", ["redact", "--room-version"], "{}", /Option '--room-version <value>' argument missing/],
    ["missing flag", ["sign-json", "--key-file", SPEC_KEY_FILE], "{}", /--server-name is required/],
    ["unknown room version", ["event-id", "--room-version", "13"], "{}", /unknown room version "13"; known: 1, 2, 3/],
    ["invalid JSON", ["canonical-json"], '{"a":', /standard input is not valid JSON/],
    ["no input", ["content-hash"], "", /expected a JSON object on standard input, got nothing/],
    ["an array", ["content-hash"], "[1]", /expected a JSON object on standard input, got an array/],
    ["a float", ["canonical-json"], '{"a":1.5}', /float/],
    ["an unsafe integer", ["sign-json", "--server-name", "d", "--key-file", SPEC_KEY_FILE], '{"a":9007199254740992}', /out of range/],
    ["not an event", ["redact", "--room-version", "10"], '{"content":{}}', /invalid event: type/],
    ["v1 event without event_id", ["sign-event", "--room-version", "1", "--server-name", "domain", "--key-file", SPEC_KEY_FILE], JSON.stringify(MINIMAL_EVENT), /event_id of the form \$opaque:server/],
    ["missing key file", ["sign-json", "--server-name", "d", "--key-file", join(dir, "none.key")], "{}", /cannot read key file .*none\.key: ENOENT/],
    ["bad key file", ["sign-event", "--room-version", "10", "--server-name", "d", "--key-file", badKeyFile], "{}", /bad\.key: signing key file line 1/],
    ["both key sources", ["verify-json", "--server-name", "d", "--key-file", SPEC_KEY_FILE, "--public-key", SPEC_PUBLIC_KEY], "{}", /either --key-file or --public-key/],
    ["malformed public key", ["verify-json", "--server-name", "d", "--public-key", "ed25519:1"], "{}", /--public-key must look like ed25519:ID=BASE64/],
    ["short public key", ["verify-json", "--server-name", "d", "--public-key", "ed25519:1=AAAA"], "{}", /--public-key ed25519:1: .*32 bytes/],
    ["bad key version", ["generate-key", "--version", "a b"], "", /--version: invalid key version/],
  ];
  for (const [name, args, stdin, message] of cases) {
    test(name, async () => assertFails(await cli(args, stdin), message));
  }
});
