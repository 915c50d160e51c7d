/** The admin token: from config, or generated on first start and kept in the data dir (mode 0600). */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const ADMIN_TOKEN_FILE = "admin_token";

export function loadOrCreateAdminToken(dataDir: string, configured: string | undefined): { token: string; created: boolean } {
  if (configured) return { token: configured, created: false };
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  if (existsSync(path)) {
    const token = readFileSync(path, "utf8").trim();
    if (token.length < 16) throw new Error(`admin token file ${path} is empty or too short; delete it to generate a new one`);
    return { token, created: false };
  }
  mkdirSync(dataDir, { recursive: true });
  const token = "syt_" + randomBytes(24).toString("base64url");
  writeFileSync(path, token + "\n", { mode: 0o600, flag: "wx" });
  return { token, created: true };
}
