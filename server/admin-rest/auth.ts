/**
 * The admin REST API's authentication, as Synapse answers it: the admin token as a Bearer token (or the console's
 * session cookie); none → 401 M_MISSING_TOKEN, a wrong one → 401 M_UNKNOWN_TOKEN.
 */
import { MatrixError } from "../http/matrix-error";
import type { Authenticator } from "../http/router";
import { SESSION_COOKIE, bearerToken, isAdminRequest, readCookie } from "../api/auth";

export function adminAuthenticator(adminToken: string, now: () => number = Date.now): Authenticator<null> {
  return (info) => {
    const headers = new Headers();
    const authorization = info.headers.authorization;
    const cookie = info.headers.cookie;
    if (authorization) headers.set("authorization", authorization);
    if (cookie) headers.set("cookie", cookie);
    if (bearerToken(authorization) === undefined && readCookie(cookie, SESSION_COOKIE) === undefined) {
      throw new MatrixError(401, "M_MISSING_TOKEN", "Missing access token.");
    }
    if (!isAdminRequest(headers, adminToken, now())) throw new MatrixError(401, "M_UNKNOWN_TOKEN", "Invalid access token passed.");
    return null;
  };
}
