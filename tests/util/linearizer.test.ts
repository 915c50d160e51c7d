import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Linearizer } from "../../server/util/linearizer";

const tick = () => new Promise((r) => setTimeout(r, 1));

describe("Linearizer", () => {
  it("runs work of one key one at a time in order, other keys alongside, and survives failures", async () => {
    const lock = new Linearizer();
    const log: string[] = [];
    const job = (key: string, name: string, fail = false) => lock.run(key, async () => {
      log.push(`start ${name}`);
      await tick();
      log.push(`end ${name}`);
      if (fail) throw new Error(name);
      return name;
    });
    const results = await Promise.allSettled([job("room", "a1", true), job("room", "a2"), job("other", "b1")]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "fulfilled", "fulfilled"]);
    assert.ok(log.indexOf("end a1") < log.indexOf("start a2"), "a2 waited for a1 even though a1 failed");
    assert.ok(log.indexOf("start b1") < log.indexOf("end a1"), "another key did not wait");
    await tick();
    assert.equal(lock.isBusy("room"), false, "idle keys are forgotten");
  });
});
