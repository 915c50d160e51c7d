/** DirectoryHandler: our room aliases for other servers (spec GET /_matrix/federation/v1/query/directory). */
import { serverNameOf } from "../events";
import { MatrixError, missingParam, notFound } from "../http/matrix-error";
import type { RoomStore } from "../store/room-store";
import type { StateStore } from "../store/state-store";

export class DirectoryHandler {
  constructor(private readonly serverName: string, private readonly rooms: RoomStore, private readonly state: StateStore) {}

  /** The `directory` query: the room an alias of ours names, and the servers in it to join through (us first). */
  async onDirectoryQuery(_origin: string, args: URLSearchParams): Promise<{ room_id: string; servers: string[] }> {
    const alias = args.get("room_alias");
    if (!alias) throw missingParam("Missing room_alias");
    if (!alias.startsWith("#") || !alias.includes(":") || serverNameOf(alias) !== this.serverName) {
      throw new MatrixError(400, "M_INVALID_PARAM", `${alias} is not a room alias of this server`);
    }
    const roomId = await this.rooms.getAliasRoom(alias);
    if (!roomId) throw notFound("Room alias not found");
    const hosts = [...(await this.state.currentJoinedHosts(roomId))].filter((h) => h !== this.serverName).sort();
    return { room_id: roomId, servers: [this.serverName, ...hosts] };
  }
}
