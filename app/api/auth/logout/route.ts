/** POST /api/auth/logout: clears the session cookie and returns to /login (a plain form post; works without JS). */
import { clearSessionSetCookie, isHttpsRequest } from "@/server/api/auth";

export function POST(req: Request): Response {
  return new Response(null, {
    status: 303,
    headers: { Location: "/login", "Set-Cookie": clearSessionSetCookie(isHttpsRequest(req.headers, req.url)), "Cache-Control": "no-store" },
  });
}
