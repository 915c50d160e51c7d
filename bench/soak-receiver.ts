/**
 * A destination for the soak: a small loopback federation server that serves its signing key (so the origin can
 * verify its joins) and records every /send transaction it accepts, checking the X-Matrix signature, the JSON and
 * each PDU's content hash and origin signature. Its fault mode makes it answer 500, hang (then drop the socket) or
 * refuse connections (its port closed) until told otherwise.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { KeyObject } from "node:crypto";
import { parseStrictJson, signJson, type JsonObject, type SigningKey } from "../server/crypto";
import { checkContentHash, computeEventId, getRoomVersion, verifyEventSignatures } from "../server/events";
import { parseXMatrixHeader, verifyXMatrixRequest } from "../server/federation/transport/x-matrix";

export type FaultMode = "ok" | "error" | "hang" | "closed";

const V10 = getRoomVersion("10");

export interface ReceivedPdu {
  eventId: string;
  roomId: string;
  body: string | undefined;
  prevEvents: string[];
  depth: number;
}

export class SoakReceiver {
  /** txnId → the PDUs of the first accepted copy */
  readonly transactions = new Map<string, ReceivedPdu[]>();
  /** event ID → txnIds of the accepted transactions that carried it */
  readonly pduTransactions = new Map<string, Set<string>>();
  /** every PDU accepted, by event ID */
  readonly pdus = new Map<string, ReceivedPdu>();
  /** accepted again with the same txnId (the sender did not see our first answer) */
  resentTransactions = 0;
  corrupt = 0;
  corruptReasons: string[] = [];
  private mode: FaultMode = "ok";
  private readonly hanging = new Set<ServerResponse>();
  private server: Server | null = null;
  /** server name → key ID → verify key: the origin's, and the other soak servers' (their joins are relayed) */
  private keys = new Map<string, Map<string, KeyObject>>();

  constructor(readonly serverName: string, readonly port: number, private readonly key: SigningKey, private readonly origin: string) {}

  /** The verify keys that what the origin sends is checked against. */
  trustKeys(keys: Map<string, Map<string, KeyObject>>): void {
    this.keys = keys;
  }

  get faultMode(): FaultMode {
    return this.mode;
  }

  async setMode(mode: FaultMode): Promise<void> {
    if (mode === this.mode) return;
    const previous = this.mode;
    this.mode = mode;
    if (previous === "hang") {
      for (const res of this.hanging) res.socket?.destroy();
      this.hanging.clear();
    }
    if (mode === "closed") await this.close();
    else if (previous === "closed") await this.listen();
  }

  async listen(): Promise<void> {
    // a sender killed or timing out mid-request resets the connection while we read
    const server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = req.url ?? "/";
    if (req.method === "GET" && url === "/_matrix/key/v2/server") return this.answer(res, 200, this.keyResponse());
    const send = /^\/_matrix\/federation\/v1\/send\/([^/?]+)$/.exec(url);
    if (!send || req.method !== "PUT") return this.answer(res, 404, { errcode: "M_UNRECOGNIZED", error: "not served by the soak receiver" });
    if (this.mode === "error") return this.answer(res, 500, { errcode: "M_UNKNOWN", error: "soak fault" });
    if (this.mode === "hang") {
      this.hanging.add(res);
      return;
    }
    const txnId = decodeURIComponent(send[1]!);
    const problem = await this.check(req, url, Buffer.concat(chunks));
    if (typeof problem === "string") {
      this.corrupt++;
      if (this.corruptReasons.length < 5) this.corruptReasons.push(`${txnId}: ${problem}`);
      return this.answer(res, 400, { errcode: "M_BAD_JSON", error: problem });
    }
    this.record(txnId, problem);
    this.answer(res, 200, { pdus: Object.fromEntries(problem.map((p) => [p.eventId, {}])) });
  }

  private record(txnId: string, pdus: ReceivedPdu[]): void {
    if (this.transactions.has(txnId)) {
      this.resentTransactions++;
      return;
    }
    this.transactions.set(txnId, pdus);
    for (const pdu of pdus) {
      this.pdus.set(pdu.eventId, pdu);
      let txns = this.pduTransactions.get(pdu.eventId);
      if (!txns) this.pduTransactions.set(pdu.eventId, (txns = new Set()));
      txns.add(txnId);
    }
  }

  /** The transaction's PDUs, or what is wrong with it. */
  private async check(req: IncomingMessage, uri: string, raw: Buffer): Promise<ReceivedPdu[] | string> {
    let body: JsonObject;
    try {
      body = parseStrictJson(raw.toString("utf8")) as JsonObject;
    } catch (e) {
      return `invalid JSON: ${(e as Error).message}`;
    }
    try {
      const credentials = parseXMatrixHeader(req.headers.authorization ?? "");
      const key = this.keys.get(this.origin)?.get(credentials.key);
      if (credentials.origin !== this.origin || !key) return `unexpected origin or key ${credentials.origin} ${credentials.key}`;
      const verified = verifyXMatrixRequest({ method: "PUT", uri, origin: credentials.origin, destination: this.serverName, content: body, key: credentials.key, sig: credentials.sig }, key);
      if (!verified.ok) return `X-Matrix signature: ${verified.reason}`;
    } catch (e) {
      return `X-Matrix header: ${(e as Error).message}`;
    }
    const pdus = Array.isArray(body.pdus) ? (body.pdus as JsonObject[]) : null;
    if (!pdus) return "no pdus array";
    const out: ReceivedPdu[] = [];
    for (const pdu of pdus) {
      if (!checkContentHash(pdu)) return "PDU content hash mismatch";
      const signatures = await verifyEventSignatures(pdu, V10, (server, keyId) => {
        const key = this.keys.get(server)?.get(keyId);
        if (!key) throw new Error(`no key ${keyId} of ${server}`);
        return key;
      });
      if (!signatures.ok) return `PDU signature: ${signatures.reason}`;
      const content = pdu.content as JsonObject | undefined;
      out.push({
        eventId: computeEventId(pdu, V10), roomId: String(pdu.room_id), prevEvents: (pdu.prev_events as string[] | undefined) ?? [],
        depth: Number(pdu.depth), body: typeof content?.body === "string" ? content.body : undefined,
      });
    }
    return out;
  }

  private keyResponse(): JsonObject {
    return signJson({
      server_name: this.serverName,
      valid_until_ts: Date.now() + 24 * 3600_000,
      verify_keys: { [this.key.keyId]: { key: this.key.publicKeyBase64 } },
      old_verify_keys: {},
    }, this.serverName, this.key);
  }

  private answer(res: ServerResponse, status: number, body: JsonObject): void {
    const bytes = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { "content-type": "application/json", "content-length": bytes.length }).end(bytes);
  }
}
