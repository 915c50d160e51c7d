/**
 * The page guard for server components: reads the session cookie through Next's request APIs. Pages never receive
 * admin data from here (that goes through tRPC, which checks again); this only keeps signed-out browsers out.
 */
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { getHomeServer } from "../engine";
import type { HomeServer } from "../homeserver";
import { SESSION_COOKIE, verifySessionToken } from "./auth";

/** True when the browser holds a valid session. Reading cookies first also marks the page as per-request. */
export async function hasAdminSession(): Promise<boolean> {
  const value = (await cookies()).get(SESSION_COOKIE)?.value;
  return verifySessionToken(getHomeServer().adminToken, value, Date.now());
}

/** Redirects a signed-out browser to /login; returns the HomeServer for signed-in ones. */
export async function requireAdminSession(): Promise<HomeServer> {
  if (!(await hasAdminSession())) redirect("/login");
  return getHomeServer();
}
