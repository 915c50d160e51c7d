/**
 * A SenderEventSource for the federation sender's tests and bench, standing in for the rooms engine: events are
 * real, signed v10 PDUs written to the real `events` and `event_forward_extremities` tables (so catch-up reads
 * real rows), each room's servers are set by the test, and listeners hear of each event as the persister's would.
 */
import { randomUUID } from "node:crypto";
import type { JsonObject, SigningKey } from "../../server/crypto";
import { computeEventId, getRoomVersion, signEvent } from "../../server/events";
import type { PersistedEvent, SenderEventSource } from "../../server/federation/sender";
import type { PrismaClient } from "../../server/store/database";

const V10 = getRoomVersion("10");

export interface TestEventSpec {
  roomId: string;
  /** default: @alice on the source's server */
  sender?: string;
  type?: string;
  content?: JsonObject;
  outlier?: boolean;
  rejected?: boolean;
}

export class TableEventSource implements SenderEventSource {
  private readonly listeners: Array<(event: PersistedEvent) => void> = [];
  private readonly hostsNow = new Map<string, string[]>();
  private readonly hostsAt = new Map<string, string[]>();
  private clock = 1_700_000_000_000;

  constructor(
    private readonly prisma: PrismaClient,
    readonly serverName: string,
    private readonly key: SigningKey,
  ) {}

  /** The servers in the room from now on (events persisted later are sent to them). */
  setHosts(roomId: string, hosts: string[]): void {
    this.hostsNow.set(roomId, hosts);
  }

  /** Persists and signs an event after the room's forward extremities, and tells the listeners. */
  async persist(spec: TestEventSpec): Promise<PersistedEvent & { pdu: JsonObject }> {
    const extremities = await this.prisma.eventForwardExtremity.findMany({ where: { roomId: spec.roomId } });
    const sender = spec.sender ?? `@alice:${this.serverName}`;
    const ts = ++this.clock;
    const draft: JsonObject = {
      room_id: spec.roomId, sender, type: spec.type ?? "m.room.message", content: spec.content ?? { body: `event ${ts} ${randomUUID()}` },
      origin_server_ts: ts, depth: ts, prev_events: extremities.map((x) => x.eventId), auth_events: [],
    };
    const pdu = signEvent(draft, V10, this.serverName, this.key);
    const eventId = computeEventId(pdu, V10);
    const outlier = spec.outlier ?? false;
    const rejected = spec.rejected ?? false;
    // known before the row is visible: a sender reading the table may see the event before we return
    this.hostsAt.set(eventId, this.hostsNow.get(spec.roomId) ?? []);
    const row = await this.prisma.event.create({
      data: {
        eventId, roomId: spec.roomId, type: String(draft.type), sender, depth: BigInt(ts), originServerTs: BigInt(ts),
        receivedTs: BigInt(ts), json: JSON.stringify(pdu), outlier, rejectedReason: rejected ? "auth" : null,
      },
    });
    if (!outlier && !rejected) {
      await this.prisma.$transaction([
        this.prisma.eventForwardExtremity.deleteMany({ where: { roomId: spec.roomId } }),
        this.prisma.eventForwardExtremity.create({ data: { roomId: spec.roomId, eventId } }),
      ]);
    }
    const event: PersistedEvent = { streamOrdering: Number(row.streamOrdering), eventId, roomId: spec.roomId, sender, outlier, rejected };
    for (const listener of this.listeners) listener(event);
    return { ...event, pdu };
  }

  /**
   * Persists `count` chained events in the room at once without telling the listeners (a backlog that appeared
   * while nobody watched, or a benchmark's input); returns the last one's stream ordering.
   */
  async persistChain(roomId: string, count: number): Promise<number> {
    const extremities = await this.prisma.eventForwardExtremity.findMany({ where: { roomId } });
    let prev = extremities.map((x) => x.eventId);
    const rows = [];
    for (let i = 0; i < count; i++) {
      const ts = ++this.clock;
      const sender = `@alice:${this.serverName}`;
      const pdu = signEvent({
        room_id: roomId, sender, type: "m.room.message", content: { msgtype: "m.text", body: `event ${ts} ${randomUUID()}` },
        origin_server_ts: ts, depth: ts, prev_events: prev, auth_events: [],
      }, V10, this.serverName, this.key);
      const eventId = computeEventId(pdu, V10);
      this.hostsAt.set(eventId, this.hostsNow.get(roomId) ?? []);
      rows.push({
        eventId, roomId, type: "m.room.message", sender, depth: BigInt(ts), originServerTs: BigInt(ts), receivedTs: BigInt(ts), json: JSON.stringify(pdu),
      });
      prev = [eventId];
    }
    for (let i = 0; i < rows.length; i += 500) await this.prisma.event.createMany({ data: rows.slice(i, i + 500) });
    await this.prisma.$transaction([
      this.prisma.eventForwardExtremity.deleteMany({ where: { roomId } }),
      this.prisma.eventForwardExtremity.create({ data: { roomId, eventId: prev[0]! } }),
    ]);
    const last = await this.prisma.event.findUniqueOrThrow({ where: { eventId: prev[0]! } });
    return Number(last.streamOrdering);
  }

  onPersisted(listener: (event: PersistedEvent) => void): void {
    this.listeners.push(listener);
  }

  async getEventsSince(afterStreamOrdering: number, limit: number): Promise<PersistedEvent[]> {
    const rows = await this.prisma.event.findMany({
      where: { streamOrdering: { gt: BigInt(afterStreamOrdering) } }, orderBy: { streamOrdering: "asc" }, take: limit,
    });
    return rows.map((r) => ({
      streamOrdering: Number(r.streamOrdering), eventId: r.eventId, roomId: r.roomId, sender: r.sender,
      outlier: r.outlier, rejected: r.rejectedReason !== null, softFailed: r.softFailed,
    }));
  }

  async getPdus(eventIds: string[]): Promise<Map<string, JsonObject>> {
    const rows = await this.prisma.event.findMany({ where: { eventId: { in: eventIds } } });
    return new Map(rows.map((r) => [r.eventId, JSON.parse(r.json) as JsonObject]));
  }

  async joinedHostsAtEvent(eventId: string): Promise<string[]> {
    return this.hostsAt.get(eventId) ?? [];
  }

  async forwardExtremities(roomId: string): Promise<{ eventId: string; streamOrdering: number }[]> {
    const rows = await this.prisma.eventForwardExtremity.findMany({ where: { roomId } });
    const events = await this.prisma.event.findMany({ where: { eventId: { in: rows.map((r) => r.eventId) } } });
    return events.map((e) => ({ eventId: e.eventId, streamOrdering: Number(e.streamOrdering) }));
  }

  async currentHostsInRoom(roomId: string): Promise<string[]> {
    return this.hostsNow.get(roomId) ?? [];
  }

  async eventMetadata(eventId: string): Promise<{ sender: string; receivedTs: number } | null> {
    const row = await this.prisma.event.findUnique({ where: { eventId } });
    return row && { sender: row.sender, receivedTs: Number(row.receivedTs) };
  }
}
