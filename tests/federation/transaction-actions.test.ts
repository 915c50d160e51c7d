import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TRANSACTION_RESPONSE_TTL_MS, TransactionActions } from "../../server/federation/transaction-actions";
import { MatrixError } from "../../server/http/matrix-error";
import { openDatabase, type Database } from "../../server/store/database";
import { InboundStore } from "../../server/store/inbound-store";

describe("TransactionActions", () => {
  let db: Database;
  let store: InboundStore;
  before(async () => {
    db = await openDatabase("pglite:memory");
    store = new InboundStore(db.prisma);
  });
  after(() => db.close());

  const record = (origin: string, txnId: string, ts: number) => store.recordTransaction(
    { origin, transactionId: txnId, responseCode: 200, responseJson: '{"pdus":{"$x":{}}}', pduCount: 1, eduCount: 0, receivedTs: ts }, []);

  it("refuses another txnId from an origin whose transaction is processing (429), shares the same txnId's answer", async () => {
    const actions = new TransactionActions(store);
    let finish!: () => void;
    let runs = 0;
    const first = actions.run("o.test", "t1", async () => {
      runs++;
      await new Promise<void>((r) => (finish = r));
      return { code: 200, body: { pdus: {} } };
    });
    await new Promise((r) => setTimeout(r, 20));
    const retry = actions.run("o.test", "t1", async () => { runs++; return { code: 500, body: {} }; });
    await assert.rejects(actions.run("o.test", "t2", async () => ({ code: 200, body: {} })),
      (e: unknown) => e instanceof MatrixError && e.status === 429 && e.errcode === "M_LIMIT_EXCEEDED");
    assert.deepEqual(await actions.run("other.test", "t2", async () => ({ code: 200, body: { other: true } })), { code: 200, body: { other: true } });
    finish();
    assert.deepEqual(await first, { code: 200, body: { pdus: {} } });
    assert.deepEqual(await retry, await first);
    assert.equal(runs, 1);
  });

  it("answers a stored transaction from the database for a day, then processes it anew", async () => {
    let now = 1_000_000_000;
    const actions = new TransactionActions(store, () => now);
    await record("p.test", "t9", now);
    let runs = 0;
    const fresh = async () => { runs++; return { code: 200, body: { pdus: {} } }; };
    assert.deepEqual(await actions.run("p.test", "t9", fresh), { code: 200, body: { pdus: { $x: {} } } });
    assert.equal(runs, 0);
    now += TRANSACTION_RESPONSE_TTL_MS;
    await actions.run("p.test", "t9", fresh);
    assert.equal(runs, 1);
  });
});
