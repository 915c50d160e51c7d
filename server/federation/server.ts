/**
 * FederationServer: what other servers ask of us. For now the transaction endpoint: PDUs are checked (room
 * known, size, signatures, content hash) and staged per room; EDUs go to their handlers through the registry.
 */
import { z } from "zod";
import { canonicalJsonBytes, type JsonObject } from "../crypto";
import {
  checkContentHash, computeEventId, getRoomVersion, parsePdu, redactEvent, toPduJson,
  verifyEventSignatures, type Pdu, type RoomVersion,
} from "../events";
import { badJson } from "../http/matrix-error";
import type { Logger } from "../http/router";
import type { Keyring } from "../keys/keyring";
import type { LoggedEdu } from "../store/inbound-store";
import type { RoomStore } from "../store/room-store";
import type { StagingStore } from "../store/staging-store";
import type { FederationRegistry } from "./registry";
import type { TransactionActions, TransactionResponse } from "./transaction-actions";
import type { TransportLayerServer } from "./transport/server";

export const MAX_PDUS_PER_TRANSACTION = 50;
export const MAX_EDUS_PER_TRANSACTION = 100;
/** Spec: a PDU is at most 65536 bytes as canonical JSON; `type` and `state_key` at most 255 bytes. */
export const MAX_PDU_BYTES = 65536;
export const MAX_PDU_FIELD_BYTES = 255;
/** Synapse's limit on a whole /send request: 200 PDUs' worth. */
export const MAX_TRANSACTION_BYTES = 200 * MAX_PDU_BYTES;
const TXN_ID = /^[A-Za-z0-9._~\-]{1,255}$/;

const transactionSchema = z.object({
  origin: z.string().optional(),
  origin_server_ts: z.number().int(),
  pdus: z.array(z.unknown()),
  edus: z.array(z.unknown()).optional(),
}).loose();

const eduSchema = z.object({ edu_type: z.string().min(1).max(255), content: z.unknown() }).loose();

export type PduResult = Record<string, never> | { error: string };

export interface FederationServerOptions {
  keyring: Keyring;
  rooms: RoomStore;
  staging: StagingStore;
  registry: FederationRegistry;
  transactions: TransactionActions;
  log: Logger;
  /** told when a room has new staged events to process */
  onStaged?: (roomId: string) => void;
  now?: () => number;
}

export class FederationServer {
  private readonly now: () => number;

  constructor(private readonly o: FederationServerOptions) {
    this.now = o.now ?? Date.now;
  }

  register(transport: TransportLayerServer): void {
    transport.add("PUT", "/_matrix/federation/v1/send/:txnId", async (ctx) => {
      const response = await this.onIncomingTransaction(ctx.auth.origin, ctx.params.txnId!, ctx.auth.content);
      return { status: response.code, body: response.body };
    }, { maxBodyBytes: MAX_TRANSACTION_BYTES });
  }

  async onIncomingTransaction(origin: string, txnId: string, content: unknown): Promise<TransactionResponse> {
    if (!TXN_ID.test(txnId)) throw badJson("Invalid transaction ID");
    const parsed = transactionSchema.safeParse(content);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw badJson(`Invalid transaction: ${issue.path.join(".") || "body"} ${issue.message}`);
    }
    const txn = parsed.data;
    const edus = txn.edus ?? [];
    if (txn.pdus.length > MAX_PDUS_PER_TRANSACTION || edus.length > MAX_EDUS_PER_TRANSACTION) {
      throw badJson(`Too many PDUs or EDUs: got ${txn.pdus.length} and ${edus.length}, at most ${MAX_PDUS_PER_TRANSACTION} and ${MAX_EDUS_PER_TRANSACTION}`);
    }
    return this.o.transactions.run(origin, txnId, async () => {
      const started = this.now();
      const pdus: Record<string, PduResult> = {};
      for (const raw of txn.pdus) {
        const handled = await this.onPdu(origin, raw);
        if (handled) pdus[handled.eventId] = handled.result;
      }
      const eduLog: LoggedEdu[] = [];
      for (const raw of edus) {
        const edu = eduSchema.safeParse(raw);
        if (!edu.success) {
          eduLog.push({ eduType: "(malformed)", content: safeJson(raw), outcome: "rejected: not an EDU" });
          continue;
        }
        const outcome = await this.o.registry.onEdu(origin, edu.data.edu_type, edu.data.content);
        eduLog.push({ eduType: edu.data.edu_type, content: safeJson(edu.data.content), outcome });
      }
      this.o.log.debug("received transaction", { origin, txn: txnId, pdus: txn.pdus.length, edus: edus.length, ms: this.now() - started });
      return { response: { code: 200, body: { pdus } }, pduCount: txn.pdus.length, eduCount: edus.length, edus: eduLog };
    });
  }

  /**
   * Checks one PDU and stages it. Returns null for a PDU that cannot be identified or is for a room we do not
   * know (Synapse ignores those too); otherwise its event ID and result.
   */
  private async onPdu(origin: string, raw: unknown): Promise<{ eventId: string; result: PduResult } | null> {
    let pdu: Pdu;
    let version: RoomVersion;
    let eventId: string;
    try {
      pdu = parsePdu(raw);
      if (typeof pdu.room_id !== "string") return null;
      const versionId = await this.o.rooms.getRoomVersion(pdu.room_id);
      if (versionId === null) {
        this.o.log.debug("ignoring PDU for unknown room", { origin, room_id: pdu.room_id });
        return null;
      }
      version = getRoomVersion(versionId);
      pdu = toPduJson(pdu, version);
      eventId = computeEventId(pdu, version);
    } catch (e) {
      this.o.log.info("ignoring unidentifiable PDU", { origin, reason: (e as Error).message });
      return null;
    }
    const problem = checkPduLimits(pdu);
    if (problem) return { eventId, result: { error: problem } };
    const signatures = await verifyEventSignatures(pdu, version, async (server, keyId, validAtTs) =>
      (await this.o.keyring.getVerifyKey(server, keyId, validAtTs)).publicKey);
    if (!signatures.ok) {
      this.o.log.info("PDU failed signature check", { origin, event_id: eventId, reason: signatures.reason });
      return { eventId, result: { error: `Signature check failed: ${signatures.reason}` } };
    }
    // Spec: a content hash mismatch means the event is kept in its redacted form.
    const hashOk = checkContentHash(pdu);
    const staged = hashOk ? pdu : redactEvent(pdu, version);
    await this.o.staging.stage({
      origin, roomId: pdu.room_id!, eventId, receivedTs: this.now(), eventJson: JSON.stringify(staged), redacted: !hashOk,
    });
    this.o.onStaged?.(pdu.room_id!);
    return { eventId, result: {} };
  }
}

/** The spec's size limits on a PDU, or null when it keeps to them. */
function checkPduLimits(pdu: JsonObject): string | null {
  let size: number;
  try {
    size = canonicalJsonBytes(pdu).length;
  } catch (e) {
    return `Event is not canonical JSON: ${(e as Error).message}`;
  }
  if (size > MAX_PDU_BYTES) return `Event is ${size} bytes, over the limit of ${MAX_PDU_BYTES}`;
  if (typeof pdu.type === "string" && Buffer.byteLength(pdu.type) > MAX_PDU_FIELD_BYTES) return "Event type is over 255 bytes";
  if (typeof pdu.state_key === "string" && Buffer.byteLength(pdu.state_key) > MAX_PDU_FIELD_BYTES) return "state_key is over 255 bytes";
  return null;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "null";
  } catch {
    return "(unserializable)";
  }
}
