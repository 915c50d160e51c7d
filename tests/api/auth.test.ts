import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  LoginThrottle, SESSION_COOKIE, SESSION_MAX_AGE_MS, bearerToken, checkLoginCredential, clearSessionSetCookie,
  createSessionToken, isAdminRequest, isHttpsRequest, readCookie, sessionSetCookie, verifySessionToken,
} from "../../server/api/auth";

const TOKEN = "syt_test_admin_token_0123456789";
const NOW = 1_750_000_000_000;

describe("session tokens", () => {
  it("a fresh session verifies with the same admin token, across processes (no server state)", () => {
    const session = createSessionToken(TOKEN, NOW);
    assert.match(session, /^\d+\.[A-Za-z0-9_-]{43}$/);
    assert.equal(verifySessionToken(TOKEN, session, NOW + 1000), true);
  });

  it("expires after 7 days", () => {
    const session = createSessionToken(TOKEN, NOW);
    assert.equal(verifySessionToken(TOKEN, session, NOW + SESSION_MAX_AGE_MS - 1), true);
    assert.equal(verifySessionToken(TOKEN, session, NOW + SESSION_MAX_AGE_MS), false);
  });

  it("rejects sessions from the future beyond a minute of clock skew", () => {
    assert.equal(verifySessionToken(TOKEN, createSessionToken(TOKEN, NOW + 30_000), NOW), true);
    assert.equal(verifySessionToken(TOKEN, createSessionToken(TOKEN, NOW + 120_000), NOW), false);
  });

  it("changing the admin token invalidates every session", () => {
    assert.equal(verifySessionToken("another_admin_token_value", createSessionToken(TOKEN, NOW), NOW), false);
  });

  it("rejects a forged issue time, a tampered MAC and malformed values", () => {
    const [issued, mac] = createSessionToken(TOKEN, NOW).split(".") as [string, string];
    assert.equal(verifySessionToken(TOKEN, `${Number(issued) + 1}.${mac}`, NOW), false);
    const flipped = (mac[0] === "A" ? "B" : "A") + mac.slice(1);
    assert.equal(verifySessionToken(TOKEN, `${issued}.${flipped}`, NOW), false);
    for (const bad of [undefined, "", "abc", `${issued}.`, `.${mac}`, `${issued}.${mac}.x`, `-1.${mac}`, TOKEN]) {
      assert.equal(verifySessionToken(TOKEN, bad, NOW), false, `accepted ${bad}`);
    }
  });
});

describe("login credential", () => {
  it("accepts the admin token, and the password only when one is configured", () => {
    assert.equal(checkLoginCredential({ token: TOKEN }, TOKEN), true);
    assert.equal(checkLoginCredential({ token: TOKEN }, TOKEN + "x"), false);
    assert.equal(checkLoginCredential({ token: TOKEN }, ""), false);
    assert.equal(checkLoginCredential({ token: TOKEN, password: "correct horse" }, "correct horse"), true);
    assert.equal(checkLoginCredential({ token: TOKEN, password: "correct horse" }, TOKEN), true);
    assert.equal(checkLoginCredential({ token: TOKEN, password: "correct horse" }, "wrong horse"), false);
  });
});

describe("request authentication", () => {
  const session = createSessionToken(TOKEN, NOW);

  it("accepts the admin token as a Bearer token, whatever the scheme's case", () => {
    assert.equal(isAdminRequest(new Headers({ authorization: `Bearer ${TOKEN}` }), TOKEN, NOW), true);
    assert.equal(isAdminRequest(new Headers({ authorization: `bearer ${TOKEN}` }), TOKEN, NOW), true);
  });

  it("a wrong Bearer token is refused even alongside a valid cookie", () => {
    const headers = new Headers({ authorization: "Bearer nope", cookie: `${SESSION_COOKIE}=${session}` });
    assert.equal(isAdminRequest(headers, TOKEN, NOW), false);
  });

  it("accepts a valid session cookie among others, and nothing else", () => {
    assert.equal(isAdminRequest(new Headers({ cookie: `a=1; ${SESSION_COOKIE}=${session}; b=2` }), TOKEN, NOW), true);
    assert.equal(isAdminRequest(new Headers({ cookie: `${SESSION_COOKIE}=${TOKEN}` }), TOKEN, NOW), false);
    assert.equal(isAdminRequest(new Headers({ cookie: `other_${SESSION_COOKIE}=${session}` }), TOKEN, NOW), false);
    assert.equal(isAdminRequest(new Headers(), TOKEN, NOW), false);
  });

  it("the password is not a Bearer credential", () => {
    assert.equal(isAdminRequest(new Headers({ authorization: "Bearer correct-horse" }), TOKEN, NOW), false);
  });

  it("parses headers strictly", () => {
    assert.equal(bearerToken("Bearer abc"), "abc");
    assert.equal(bearerToken("Basic abc"), undefined);
    assert.equal(bearerToken("Bearer a b"), undefined);
    assert.equal(bearerToken(null), undefined);
    assert.equal(readCookie("x=1;y = 2", "y"), "2");
    assert.equal(readCookie("xy=1", "y"), undefined);
  });
});

describe("session cookie", () => {
  it("is httpOnly, SameSite=Strict, Path=/ and lasts 7 days; Secure only over https", () => {
    const plain = sessionSetCookie("v", false);
    assert.equal(plain, `${SESSION_COOKIE}=v; Path=/; Max-Age=604800; HttpOnly; SameSite=Strict`);
    assert.equal(sessionSetCookie("v", true), `${plain}; Secure`);
    assert.match(clearSessionSetCookie(false), new RegExp(`^${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict$`));
  });

  it("detects https from x-forwarded-proto, else from the URL", () => {
    assert.equal(isHttpsRequest(new Headers({ "x-forwarded-proto": "https" }), "http://a/"), true);
    assert.equal(isHttpsRequest(new Headers({ "x-forwarded-proto": "http" }), "https://a/"), false);
    assert.equal(isHttpsRequest(new Headers(), "https://a/"), true);
    assert.equal(isHttpsRequest(new Headers(), "http://a/"), false);
  });
});

describe("LoginThrottle", () => {
  function clock(start = NOW) {
    let t = start;
    return { now: () => t, advance: (ms: number) => { t += ms; } };
  }

  it("locks a client out after maxFailures within the window, until the window ends", () => {
    const c = clock();
    const throttle = new LoginThrottle({ maxFailures: 3, windowMs: 60_000, now: c.now });
    for (let i = 0; i < 3; i++) {
      assert.equal(throttle.retryAfterMs("10.0.0.1"), 0);
      throttle.recordFailure("10.0.0.1");
      c.advance(1000);
    }
    assert.equal(throttle.retryAfterMs("10.0.0.1"), 57_000);
    assert.equal(throttle.retryAfterMs("10.0.0.2"), 0, "other clients are not affected");
    c.advance(57_000);
    assert.equal(throttle.retryAfterMs("10.0.0.1"), 0);
  });

  it("a success forgets earlier failures", () => {
    const throttle = new LoginThrottle({ maxFailures: 2, now: clock().now });
    throttle.recordFailure("c");
    throttle.recordSuccess("c");
    throttle.recordFailure("c");
    assert.equal(throttle.retryAfterMs("c"), 0);
  });

  it("remembers at most maxClients, forgetting the oldest", () => {
    const throttle = new LoginThrottle({ maxFailures: 1, maxClients: 2, now: clock().now });
    throttle.recordFailure("a");
    throttle.recordFailure("b");
    throttle.recordFailure("c");
    assert.equal(throttle.retryAfterMs("a"), 0);
    assert.ok(throttle.retryAfterMs("b") > 0);
    assert.ok(throttle.retryAfterMs("c") > 0);
  });
});
