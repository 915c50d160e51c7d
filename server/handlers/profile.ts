/** ProfileHandler: our users' profiles for other servers (spec GET /_matrix/federation/v1/query/profile). */
import { serverNameOf } from "../events";
import { MatrixError, missingParam, notFound } from "../http/matrix-error";
import type { UserStore } from "../store/user-store";

const FIELDS = ["displayname", "avatar_url"] as const;

export class ProfileHandler {
  constructor(private readonly serverName: string, private readonly users: UserStore) {}

  /** The `profile` query: the whole profile, or the one `field` asked for; absent values are left out. */
  async onProfileQuery(_origin: string, args: URLSearchParams): Promise<Record<string, string>> {
    const userId = args.get("user_id");
    if (!userId) throw missingParam("Missing user_id");
    const field = args.get("field");
    if (field !== null && !(FIELDS as readonly string[]).includes(field)) throw new MatrixError(400, "M_INVALID_PARAM", `Unknown profile field ${field}`);
    if (!userId.includes(":") || serverNameOf(userId) !== this.serverName) throw new MatrixError(400, "M_INVALID_PARAM", `${userId} is not a user of this server`);
    const user = await this.users.getUser(userId);
    if (!user) throw notFound("Profile was not found");
    const profile: Record<string, string> = {};
    if (user.displayname !== null && (field === null || field === "displayname")) profile.displayname = user.displayname;
    if (user.avatarUrl !== null && (field === null || field === "avatar_url")) profile.avatar_url = user.avatarUrl;
    return profile;
  }
}
