/**
 * RoomSummaryHandler (Synapse synapse/handlers/room_summary.py): what a room is, from its current state (name,
 * topic, alias, member count, join rule, visibility), and the space hierarchy other servers ask for
 * (spec GET /_matrix/federation/v1/hierarchy/{roomId}).
 */
import type { JsonObject } from "../crypto";
import { parseStateKey, stateKey } from "../events";
import { notFound } from "../http/matrix-error";
import type { EventStore } from "../store/event-store";
import type { RoomStore } from "../store/room-store";
import type { StateStore } from "../store/state-store";

export interface RoomSummary {
  room_id: string;
  num_joined_members: number;
  world_readable: boolean;
  guest_can_join: boolean;
  join_rule: string;
  name?: string;
  topic?: string;
  canonical_alias?: string;
  avatar_url?: string;
  room_type?: string;
}

const SUMMARY_KEYS = {
  create: stateKey("m.room.create", ""),
  name: stateKey("m.room.name", ""),
  topic: stateKey("m.room.topic", ""),
  alias: stateKey("m.room.canonical_alias", ""),
  avatar: stateKey("m.room.avatar", ""),
  joinRules: stateKey("m.room.join_rules", ""),
  history: stateKey("m.room.history_visibility", ""),
  guests: stateKey("m.room.guest_access", ""),
};

/** Join rules under which anyone may learn about the room (spec: the hierarchy's accessibility rules). */
const PEEKABLE_JOIN_RULES = new Set(["public", "knock", "knock_restricted"]);

function text(content: JsonObject | undefined, field: string): string | undefined {
  const value = content?.[field];
  return typeof value === "string" ? value : undefined;
}

export class RoomSummaryHandler {
  constructor(
    private readonly rooms: RoomStore,
    private readonly state: StateStore,
    private readonly events: EventStore,
  ) {}

  /** The summary of a room we are in, or null when we hold no current state of it. */
  async summary(roomId: string): Promise<RoomSummary | null> {
    const current = await this.state.getCurrentState(roomId);
    if (current.size === 0) return null;
    const ids = Object.values(SUMMARY_KEYS).flatMap((key) => current.get(key) ?? []);
    const events = await this.events.getEvents(ids);
    const content = (key: string) => { const id = current.get(key); return id === undefined ? undefined : events.get(id)?.pdu.content; };
    const members = await this.state.getCurrentMembers(roomId);
    const summary: RoomSummary = {
      room_id: roomId,
      num_joined_members: members.filter((m) => m.membership === "join").length,
      world_readable: text(content(SUMMARY_KEYS.history), "history_visibility") === "world_readable",
      guest_can_join: text(content(SUMMARY_KEYS.guests), "guest_access") === "can_join",
      join_rule: text(content(SUMMARY_KEYS.joinRules), "join_rule") ?? "invite",
    };
    const optional: Array<[keyof RoomSummary, string | undefined]> = [
      ["name", text(content(SUMMARY_KEYS.name), "name")],
      ["topic", text(content(SUMMARY_KEYS.topic), "topic")],
      ["canonical_alias", text(content(SUMMARY_KEYS.alias), "alias")],
      ["avatar_url", text(content(SUMMARY_KEYS.avatar), "url")],
      ["room_type", text(content(SUMMARY_KEYS.create), "type")],
    ];
    for (const [field, value] of optional) if (value !== undefined) (summary as unknown as Record<string, unknown>)[field] = value;
    return summary;
  }

  /** Whether `origin` may see the room's summary: it is in the room, or the room is public or world readable. */
  private async accessible(origin: string, roomId: string, summary: RoomSummary): Promise<boolean> {
    if (PEEKABLE_JOIN_RULES.has(summary.join_rule) || summary.world_readable) return true;
    return (await this.state.currentJoinedHosts(roomId)).has(origin);
  }

  /** The hierarchy request: the room with its m.space.child events, and the summaries of the children we can give. */
  async onHierarchy(origin: string, roomId: string, suggestedOnly: boolean): Promise<JsonObject> {
    const summary = await this.summary(roomId);
    if (!summary || !(await this.accessible(origin, roomId, summary))) throw notFound("Unknown room or not accessible to your server");
    const current = await this.state.getCurrentState(roomId);
    const childIds = [...current].filter(([key]) => parseStateKey(key)[0] === "m.space.child").map(([, id]) => id);
    const childEvents = [...(await this.events.getEvents(childIds)).values()].filter(({ pdu }) => {
      const via = pdu.content.via;
      return Array.isArray(via) && via.length > 0 && (!suggestedOnly || pdu.content.suggested === true);
    });
    const childrenState = childEvents.map(({ pdu }) => ({
      type: pdu.type, state_key: pdu.state_key ?? "", content: pdu.content, sender: pdu.sender ?? "", origin_server_ts: pdu.origin_server_ts ?? 0,
    }));
    const children: RoomSummary[] = [];
    const inaccessible: string[] = [];
    for (const { pdu } of childEvents) {
      const childId = String(pdu.state_key);
      // Children we know nothing of are left out: the requester can ask the servers in `via`.
      if ((await this.rooms.getRoomVersion(childId)) === null) continue;
      const childSummary = await this.summary(childId);
      if (childSummary && (await this.accessible(origin, childId, childSummary))) children.push(childSummary);
      else inaccessible.push(childId);
    }
    return {
      room: { ...summary, children_state: childrenState },
      children: children as unknown as JsonObject[],
      inaccessible_children: inaccessible,
    } as JsonObject;
  }
}
