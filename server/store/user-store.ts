/** Local users: created by operators (and tests); their profiles answer federation profile queries. */
import type { PrismaClient } from "./generated/client";

export interface UserRow {
  userId: string;
  displayname: string | null;
  avatarUrl: string | null;
  createdTs: number;
}

export class UserStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** Creates the user; false when the ID is taken. */
  async createUser(user: UserRow): Promise<boolean> {
    const result = await this.prisma.user.createMany({ data: [{ ...user, createdTs: BigInt(user.createdTs) }], skipDuplicates: true });
    return result.count === 1;
  }

  async getUser(userId: string): Promise<UserRow | null> {
    const row = await this.prisma.user.findUnique({ where: { userId } });
    return row && { ...row, createdTs: Number(row.createdTs) };
  }

  async listUsers(limit: number): Promise<UserRow[]> {
    const rows = await this.prisma.user.findMany({ orderBy: { userId: "asc" }, take: limit });
    return rows.map((row) => ({ ...row, createdTs: Number(row.createdTs) }));
  }
}
