/**
 * RoomCreationHandler (Synapse synapse/handlers/room.py create_room): a new room in any room version 1–12. The
 * create event (whose hash is the room ID from v12), the creator's join, power levels, then the state the preset
 * asks for (join rules, history visibility, guest access), an alias and a name, each an ordinary local event.
 */
import { randomBytes } from "node:crypto";
import { encodeBase64Url, type JsonObject, type SigningKey } from "../crypto";
import {
  buildEvent, getRoomVersion, isKnownRoomVersion, roomIdForCreateEvent, serverNameOf, signNewEvent,
  type EventFields, type RoomVersion,
} from "../events";
import { MatrixError, forbidden } from "../http/matrix-error";
import type { RoomStore } from "../store/room-store";
import type { UserStore } from "../store/user-store";
import type { Linearizer } from "../util/linearizer";
import type { EventCreationHandler } from "./event-creation";
import type { EventPersister } from "./event-persister";
import { emptyContext, type StateHandler } from "./state-handler";

export const ROOM_PRESETS = ["private_chat", "public_chat", "trusted_private_chat"] as const;
export type RoomPreset = (typeof ROOM_PRESETS)[number];

export interface CreateRoomRequest {
  creator: string;
  /** default: the configured default_room_version */
  roomVersion?: string;
  name?: string;
  topic?: string;
  /** default: private_chat */
  preset?: RoomPreset;
  /** localpart of a local alias to give the room (#localpart:our.server) */
  aliasLocalpart?: string;
}

export interface RoomCreationHandlerOptions {
  serverName: string;
  signingKey: SigningKey;
  defaultRoomVersion: string;
  users: UserStore;
  rooms: RoomStore;
  stateHandler: StateHandler;
  persister: EventPersister;
  eventCreation: EventCreationHandler;
  roomLocks: Linearizer;
  now?: () => number;
}

/** Synapse's defaults for the power levels of a new room. */
function powerLevelsContent(creator: string, version: RoomVersion, preset: RoomPreset): JsonObject {
  return {
    // v12 creators have unlimited power from the create event and must not be listed (MSC4289).
    users: version.privilegedCreators ? {} : { [creator]: 100 },
    users_default: 0,
    events: {
      "m.room.name": 50,
      "m.room.power_levels": 100,
      "m.room.history_visibility": 100,
      "m.room.canonical_alias": 50,
      "m.room.avatar": 50,
      "m.room.tombstone": 100,
      "m.room.server_acl": 100,
      "m.room.encryption": 100,
    },
    events_default: 0,
    state_default: 50,
    ban: 50,
    kick: 50,
    redact: 50,
    // The private presets let every member invite (Synapse's power_level_content_override for them).
    invite: preset === "public_chat" ? 50 : 0,
  };
}

export class RoomCreationHandler {
  private readonly now: () => number;

  constructor(private readonly o: RoomCreationHandlerOptions) {
    this.now = o.now ?? Date.now;
    if (!isKnownRoomVersion(o.defaultRoomVersion)) throw new Error(`default_room_version ${o.defaultRoomVersion} is not a known room version`);
  }

  async createRoom(request: CreateRoomRequest): Promise<{ roomId: string; roomVersion: string }> {
    const { creator } = request;
    if (serverNameOf(creator) !== this.o.serverName) throw forbidden(`${creator} is not a user of this server`);
    if (!(await this.o.users.getUser(creator))) throw new MatrixError(404, "M_NOT_FOUND", `Unknown user ${creator}`);
    const versionId = request.roomVersion ?? this.o.defaultRoomVersion;
    if (!isKnownRoomVersion(versionId)) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Room version ${versionId} is not supported`);
    const version = getRoomVersion(versionId);
    const preset = request.preset ?? "private_chat";
    const alias = request.aliasLocalpart === undefined ? undefined : `#${request.aliasLocalpart}:${this.o.serverName}`;

    const createContent: JsonObject = { room_version: version.id };
    if (!version.implicitRoomCreator) createContent.creator = creator;
    const opaqueRoomId = version.roomIdFormat === "opaque" ? `!${encodeBase64Url(randomBytes(12))}:${this.o.serverName}` : null;
    const unsignedCreate = buildEvent({
      version, roomId: opaqueRoomId, fields: { type: "m.room.create", sender: creator, content: createContent, stateKey: "" },
      prevEvents: [], authEvents: [], origin: this.o.serverName, originServerTs: this.now(),
    });
    const create = signNewEvent(unsignedCreate, version, this.o.serverName, this.o.signingKey);
    const roomId = opaqueRoomId ?? roomIdForCreateEvent(create.eventId);
    const rejection = await this.o.stateHandler.rejectionByAuthEvents(create.event, version);
    if (rejection !== null) throw new Error(`our own create event fails the auth rules: ${rejection}`);
    if (alias !== undefined && !(await this.o.rooms.createAlias(alias, roomId, creator))) {
      throw new MatrixError(400, "M_ROOM_IN_USE", `Room alias ${alias} is already taken`);
    }
    await this.o.rooms.storeRoom(roomId, version.id, this.now(), { creator, isPublic: preset === "public_chat" });

    const initialState: EventFields[] = [
      { type: "m.room.member", sender: creator, stateKey: creator, content: { membership: "join" } },
      { type: "m.room.power_levels", sender: creator, stateKey: "", content: powerLevelsContent(creator, version, preset) },
    ];
    if (alias !== undefined) initialState.push({ type: "m.room.canonical_alias", sender: creator, stateKey: "", content: { alias } });
    initialState.push(
      { type: "m.room.join_rules", sender: creator, stateKey: "", content: { join_rule: preset === "public_chat" ? "public" : "invite" } },
      { type: "m.room.history_visibility", sender: creator, stateKey: "", content: { history_visibility: "shared" } },
    );
    if (preset !== "public_chat") initialState.push({ type: "m.room.guest_access", sender: creator, stateKey: "", content: { guest_access: "can_join" } });
    if (request.name !== undefined) initialState.push({ type: "m.room.name", sender: creator, stateKey: "", content: { name: request.name } });
    if (request.topic !== undefined) initialState.push({ type: "m.room.topic", sender: creator, stateKey: "", content: { topic: request.topic } });

    await this.o.roomLocks.run(roomId, async () => {
      await this.o.persister.persist({ event: create.event, version, context: emptyContext() });
      for (const fields of initialState) {
        await this.o.eventCreation.persistPrepared(await this.o.eventCreation.prepare(roomId, fields));
      }
    });
    return { roomId, roomVersion: version.id };
  }
}
