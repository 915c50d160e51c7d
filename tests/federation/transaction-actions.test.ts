import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TRANSACTION_RESPONSE_TTL_MS, TransactionActions } from "../../server/federation/transaction-actions";
import { MatrixError } from "../../server/http/matrix-error";
import { openDatabase, type Database } from "../../server/store/database";
import { InboundStore } from "../../server/store/inbound-store";
import { createLogger } from "../../server/log";

describe("TransactionActions", () => {
  let db: Database;
  let store: InboundStore;
  before(async () => {
    db = await openDatabase("pglite:memory");
    store = new InboundStore(db.prisma);
  });
  after(() => db.close());

  const log = createLogger("error");
  const record = (origin: string, txnId: string, ts: number) => store.recordTransactions([{
    transaction: { origin, transactionId: txnId, responseCode: 200, responseJson: '{"pdus":{"$x":{}}}', pduCount: 1, eduCount: 0, receivedTs: ts }, edus: [],
  }]);
  const processed = (body: unknown) => ({ response: { code: 200, body }, pduCount: 0, eduCount: 0, edus: [] });

  it("refuses another txnId from an origin whose transaction is processing (429), shares the same txnId's answer", async () => {
    const actions = new TransactionActions(store, log);
    let finish!: () => void;
    let runs = 0;
    const first = actions.run("o.test", "t1", async () => {
      runs++;
      await new Promise<void>((r) => (finish = r));
      return processed({ pdus: {} });
    });
    await new Promise((r) => setTimeout(r, 20));
    const retry = actions.run("o.test", "t1", async () => { runs++; return processed({}); });
    await assert.rejects(actions.run("o.test", "t2", async () => processed({})),
      (e: unknown) => e instanceof MatrixError && e.status === 429 && e.errcode === "M_LIMIT_EXCEEDED");
    assert.deepEqual(await actions.run("other.test", "t2", async () => processed({ other: true })), { code: 200, body: { other: true } });
    finish();
    assert.deepEqual(await first, { code: 200, body: { pdus: {} } });
    assert.deepEqual(await retry, await first);
    assert.equal(runs, 1);
  });

  it("answers a stored transaction from the database for a day, then processes it anew", async () => {
    let now = 1_000_000_000;
    const actions = new TransactionActions(store, log, () => now);
    await record("p.test", "t9", now);
    let runs = 0;
    const fresh = async () => { runs++; return processed({ pdus: {} }); };
    assert.deepEqual(await actions.run("p.test", "t9", fresh), { code: 200, body: { pdus: { $x: {} } } }, "answered from the database");
    assert.equal(runs, 0);
    now += TRANSACTION_RESPONSE_TTL_MS;
    await actions.run("p.test", "t9", fresh);
    assert.equal(runs, 1);
    await actions.run("p.test", "t9", fresh);
    assert.equal(runs, 1, "answered from memory");
    await actions.run("p.test", "t10", fresh);
    assert.equal(runs, 2);
    await actions.flush();
    const restarted = new TransactionActions(store, log, () => now);
    await restarted.run("p.test", "t10", fresh);
    assert.equal(runs, 2, "a new process finds the batched record in the database");
  });
});
