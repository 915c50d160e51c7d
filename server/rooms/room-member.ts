/**
 * RoomMemberHandler (Synapse synapse/handlers/room_member.py): joins, leaves and invites of local users. When
 * this server is in the room they are ordinary local events; otherwise they go through the federation
 * handshakes: a join through make_join/send_join on the servers given (plus the alias's, the inviter's and the
 * room ID's), a leave of a room we only hold an invite to through make_leave/send_leave, and an invite of a
 * remote user through the invitee's server, which countersigns it.
 */
import { serverNameOf } from "../events";
import { notFound } from "../http/matrix-error";
import type { FederationClient } from "../federation/client";
import type { FederationHandler } from "../federation/federation-handler";
import type { EventStore } from "../store/event-store";
import type { RoomStore } from "../store/room-store";
import type { StateStore } from "../store/state-store";
import type { UserStore } from "../store/user-store";
import type { EventCreationHandler } from "./event-creation";
import type { PersistedEvent } from "./event-persister";

export interface RoomMemberHandlerOptions {
  serverName: string;
  users: UserStore;
  rooms: RoomStore;
  events: EventStore;
  state: StateStore;
  eventCreation: EventCreationHandler;
  federation: FederationHandler;
  client: FederationClient;
}

export class RoomMemberHandler {
  constructor(private readonly o: RoomMemberHandlerOptions) {}

  private async assertLocalUser(userId: string): Promise<void> {
    if (serverNameOf(userId) !== this.o.serverName || !(await this.o.users.getUser(userId))) throw notFound(`${userId} is not a user of this server`);
  }

  /** Whether one of our users is joined to the room, i.e. we hold its current state. */
  async isServerInRoom(roomId: string): Promise<boolean> {
    return (await this.o.state.currentJoinedHosts(roomId)).has(this.o.serverName);
  }

  /** Joins `room` (an ID or an alias); `via` names servers to join through when we are not in the room. */
  async join(userId: string, room: string, via: string[] = []): Promise<{ roomId: string; event: PersistedEvent }> {
    await this.assertLocalUser(userId);
    let roomId = room;
    const servers = [...via];
    if (room.startsWith("#")) {
      if (serverNameOf(room) === this.o.serverName) {
        roomId = (await this.o.rooms.getAliasRoom(room)) ?? "";
        if (!roomId) throw notFound(`Unknown room alias ${room}`);
      } else {
        const entry = await this.o.client.queryDirectory(room);
        roomId = entry.room_id;
        servers.push(...entry.servers);
      }
    }
    const fields = { type: "m.room.member", sender: userId, stateKey: userId, content: { membership: "join" } };
    if (await this.isServerInRoom(roomId)) return { roomId, event: await this.o.eventCreation.send(roomId, fields) };
    const invite = await this.o.events.getLatestMembership(roomId, userId);
    if (invite?.pdu.content.membership === "invite" && typeof invite.pdu.sender === "string") servers.push(serverNameOf(invite.pdu.sender));
    // Before v12 the room ID names the server that created the room, a good last resort.
    if (roomId.includes(":")) servers.push(serverNameOf(roomId));
    return { roomId, event: await this.o.federation.joinRemoteRoom(servers, roomId, userId) };
  }

  /** Leaves a room, or rejects an invite to a room this server is not in. */
  async leave(userId: string, roomId: string): Promise<PersistedEvent> {
    await this.assertLocalUser(userId);
    const fields = { type: "m.room.member", sender: userId, stateKey: userId, content: { membership: "leave" } };
    if (await this.isServerInRoom(roomId)) return this.o.eventCreation.send(roomId, fields);
    const membership = await this.o.events.getLatestMembership(roomId, userId);
    if (membership?.pdu.content.membership !== "invite" || typeof membership.pdu.sender !== "string") {
      throw notFound(`${userId} is neither in nor invited to ${roomId}`);
    }
    const servers = [serverNameOf(membership.pdu.sender), ...(roomId.includes(":") ? [serverNameOf(roomId)] : [])];
    return this.o.federation.leaveRemoteRoom(servers, roomId, userId);
  }

  /** `sender` (local) invites `invitee`, local or remote. */
  async invite(sender: string, roomId: string, invitee: string): Promise<PersistedEvent> {
    await this.assertLocalUser(sender);
    const fields = { type: "m.room.member", sender, stateKey: invitee, content: { membership: "invite" } };
    if (serverNameOf(invitee) === this.o.serverName) {
      await this.assertLocalUser(invitee);
      return this.o.eventCreation.send(roomId, fields);
    }
    return this.o.federation.inviteRemoteUser(await this.o.eventCreation.prepare(roomId, fields), invitee);
  }
}
