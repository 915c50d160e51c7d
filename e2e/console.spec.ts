import { expect, test, type APIRequestContext } from "@playwright/test";
import { screenshot, signIn } from "./fixtures/console";
import { ADMIN_TOKEN, DOWN_DESTINATION, SERVER_NAME } from "./fixtures/server";

/** Our key as the federation key endpoint serves it: the ground truth the console must agree with. */
async function servedKey(request: APIRequestContext): Promise<{ keyId: string; publicKey: string }> {
  const res = await request.get("/_matrix/key/v2/server");
  expect(res.status()).toBe(200);
  const doc = (await res.json()) as { server_name: string; verify_keys: Record<string, { key: string }> };
  expect(doc.server_name).toBe(SERVER_NAME);
  const [keyId, key] = Object.entries(doc.verify_keys)[0]!;
  return { keyId, publicKey: key.key };
}

test("a signed-out browser is sent to /login and is shown no server data", async ({ page, request }) => {
  const { keyId } = await servedKey(request);
  for (const path of ["/", "/keys", "/destinations", "/destinations/elsewhere.example", "/replication", "/rooms"]) {
    const direct = await request.get(path, { maxRedirects: 0 });
    expect(direct.status(), `${path} without a session`).toBe(307);
    expect(direct.headers().location).toBe("/login");
    expect(await direct.text()).not.toContain(SERVER_NAME);
  }
  await page.goto("/");
  await expect(page).toHaveURL("/login");
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  const html = await page.content();
  expect(html).not.toContain(SERVER_NAME);
  expect(html).not.toContain(keyId);
  await screenshot(page, "login");
});

test("a wrong token is refused with a visible message", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("Admin token").fill("not-the-admin-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  // (Next's route announcer is an alert too, hence the filter)
  await expect(page.getByRole("alert").filter({ hasText: "that is not the admin token" })).toBeVisible();
  await expect(page.getByLabel("Admin token")).toHaveAttribute("aria-invalid", "true");
  await expect(page).toHaveURL("/login");
  expect(await page.context().cookies()).toEqual([]);
});

test("signing in opens the overview with the server name and our key id", async ({ page, request }) => {
  const { keyId } = await servedKey(request);
  await signIn(page);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(`Overview of ${SERVER_NAME}`);
  await expect(page.getByTestId("server-name")).toHaveText(SERVER_NAME);
  await expect(page.getByTestId("key-id")).toHaveText(keyId);
  await expect(page.getByTestId("database-kind")).toContainText("PGlite");
  await expect(page.getByRole("link", { name: "Overview" })).toHaveAttribute("aria-current", "page");

  const [cookie] = await page.context().cookies();
  expect(cookie).toMatchObject({ name: "switchyard_session", httpOnly: true, sameSite: "Strict", path: "/", secure: false });

  // test-results/screenshots/overview.png; docs/screenshot-overview.png for the README is a copy made by hand.
  await screenshot(page, "overview");
});

test("the keys page shows our public key and looks up a server's cached keys", async ({ page, request }) => {
  const { keyId, publicKey } = await servedKey(request);
  await signIn(page);
  await page.getByRole("link", { name: "Keys" }).click();
  await expect(page).toHaveURL("/keys");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Keys");
  await expect(page.getByTestId("own-key-id")).toHaveText(keyId);
  await expect(page.getByTestId("own-public-key")).toHaveText(publicKey);
  await expect(page.getByText("No retired keys")).toBeVisible();
  await expect(page.getByText("No remote keys cached yet")).toBeVisible();

  await page.getByLabel("Server name").fill("unknown.example");
  await page.getByLabel("Server name").press("Enter");
  await expect(page.getByText("No cached keys for unknown.example")).toBeVisible();
  await screenshot(page, "keys");

  await page.getByLabel("Server name").fill("not a server name");
  await page.getByRole("button", { name: "Look up" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "expected a server name" })).toBeVisible();
});

test("signing out ends the session", async ({ page }) => {
  await signIn(page);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL("/login");
  expect(await page.context().cookies()).toEqual([]);
  await page.goto("/keys");
  await expect(page).toHaveURL("/login");
});

test("the console API answers 401 without a session or the admin token", async ({ request }) => {
  const anonymous = await request.get("/api/trpc/server.health");
  expect(anonymous.status()).toBe(401);
  expect(JSON.stringify(await anonymous.json())).not.toContain(SERVER_NAME);
  expect((await request.get("/api/trpc/server.health", { headers: { Authorization: "Bearer wrong-token-wrong-token" } })).status()).toBe(401);

  // nor is anything changed: a mutation without the token is refused before it runs
  const anonymousList = await request.get(`/api/trpc/destinations.list?input=${encodeURIComponent("{}")}`);
  expect(anonymousList.status()).toBe(401);
  const anonymousRetry = await request.post("/api/trpc/destinations.retryNow", { data: { destination: DOWN_DESTINATION } });
  expect(anonymousRetry.status()).toBe(401);
  const down = await request.get(`/api/trpc/destinations.get?input=${encodeURIComponent(JSON.stringify({ destination: DOWN_DESTINATION }))}`, {
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  expect(((await down.json()) as { result: { data: { state: string } } }).result.data.state).toBe("backing_off");

  const scripted = await request.get("/api/trpc/server.health", { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(scripted.status()).toBe(200);
  expect(((await scripted.json()) as { result: { data: { server_name: string } } }).result.data.server_name).toBe(SERVER_NAME);
});
