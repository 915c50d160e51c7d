/**
 * POST /api/auth/login {credential}: the admin token (or `admin.password`) in exchange for a session cookie.
 * Failed attempts are limited per client address.
 */
import { z } from "zod";
import { getHomeServer } from "@/server/engine";
import {
  LoginThrottle, PEER_ADDRESS_HEADER, checkLoginCredential, createSessionToken, isHttpsRequest, sessionSetCookie,
} from "@/server/api/auth";

const bodySchema = z.object({ credential: z.string().min(1, "enter the admin token").max(4096) });

// one per process: this module is the login endpoint's composition root
const throttle = new LoginThrottle();

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers: { "Cache-Control": "no-store", ...headers } });
}

export async function POST(req: Request): Promise<Response> {
  const hs = getHomeServer();
  let raw: unknown;
  try {
    raw = await req.json();
  } catch {
    return json(400, { error: "expected a JSON body {\"credential\": \"...\"}" });
  }
  const parsed = bodySchema.safeParse(raw);
  if (!parsed.success) return json(400, { error: parsed.error.issues[0]!.message });

  // nothing awaits between the check and recording the outcome, so parallel guesses cannot slip past the limit
  const client = req.headers.get(PEER_ADDRESS_HEADER) || "unknown";
  const waitMs = throttle.retryAfterMs(client);
  if (waitMs > 0) {
    const seconds = Math.ceil(waitMs / 1000);
    return json(429, { error: `too many failed sign-in attempts; try again in ${Math.ceil(seconds / 60)} min` }, { "Retry-After": String(seconds) });
  }
  if (!checkLoginCredential({ token: hs.adminToken, password: hs.config.admin.password }, parsed.data.credential)) {
    throttle.recordFailure(client);
    hs.log.warn("console sign-in refused", { client });
    return json(401, { error: "that is not the admin token" + (hs.config.admin.password ? " or password" : "") });
  }
  throttle.recordSuccess(client);
  const cookie = sessionSetCookie(createSessionToken(hs.adminToken, Date.now()), isHttpsRequest(req.headers, req.url));
  return new Response(null, { status: 204, headers: { "Set-Cookie": cookie, "Cache-Control": "no-store" } });
}
