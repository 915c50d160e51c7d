/**
 * The destinations pages against the seeded e2e server (fixtures/seed.ts): live countdowns, Retry now with
 * confirmation, keyboard-only use of the table and its actions, and the detail page.
 */
import { createServer, type Server } from "node:http";
import { expect, test, type Locator, type Page } from "@playwright/test";
import { screenshot, signIn, tabTo } from "./fixtures/console";
import { DOWN_DESTINATION, KEYBOARD_DESTINATION, RECOVERS_DESTINATION, RECOVERS_PORT } from "./fixtures/server";

/** "29:58" or "1:02:03" → seconds. */
function seconds(countdown: string | null): number {
  const parts = (countdown ?? "").trim().split(":").map(Number);
  if (parts.length < 2 || parts.some((n) => !Number.isInteger(n))) throw new Error(`not a countdown: ${countdown}`);
  return parts.reduce((total, n) => total * 60 + n, 0);
}

function row(page: Page, destination: string): Locator {
  return page.locator(`tr[data-destination="${destination}"]`);
}

/** A federation peer that accepts every transaction, counting them. */
async function startPeer(port: number): Promise<{ transactions: () => number; close(): Promise<void> }> {
  let transactions = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.method === "PUT" && req.url?.startsWith("/_matrix/federation/v1/send/")) transactions++;
      res.writeHead(200, { "content-type": "application/json" }).end('{"pdus":{}}');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    transactions: () => transactions,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

test("a failing destination shows \"backing off\" with a countdown that goes down", async ({ page }) => {
  await signIn(page);
  await page.getByRole("link", { name: "Destinations" }).click();
  await expect(page).toHaveURL("/destinations");
  const down = row(page, DOWN_DESTINATION);
  await expect(down.getByText("backing off")).toBeVisible();
  const countdown = down.getByTestId("next-retry");
  const first = seconds(await countdown.textContent());
  expect(first).toBeGreaterThan(25 * 60);
  await expect.poll(async () => seconds(await countdown.textContent())).toBeLessThan(first);
  await expect(down).toContainText(/2h \d+m ago/);
  await screenshot(page, "destinations");
});

test("Retry now asks first, then the state changes within a second", async ({ page }) => {
  const peer = await startPeer(RECOVERS_PORT);
  try {
    await signIn(page);
    await page.goto("/destinations");
    const recovers = row(page, RECOVERS_DESTINATION);
    await expect(recovers).toHaveAttribute("data-state", "backing_off");

    await recovers.getByRole("button", { name: `Retry now ${RECOVERS_DESTINATION}` }).click();
    const dialog = page.getByRole("dialog", { name: `Retry ${RECOVERS_DESTINATION} now?` });
    await expect(dialog).toBeVisible();
    await screenshot(page, "destinations-confirm");
    await dialog.getByRole("button", { name: "Retry now" }).click();
    await expect(recovers).not.toHaveAttribute("data-state", "backing_off", { timeout: 1000 });
    await expect(dialog).toBeHidden();
    // the waiting to-device message went out, so it is healthy
    await expect(recovers).toHaveAttribute("data-state", "healthy");
    expect(peer.transactions()).toBe(1);
    await expect(page.getByRole("status").filter({ hasText: RECOVERS_DESTINATION })).toHaveText(`${RECOVERS_DESTINATION}: retry timer cleared; sending now.`);
  } finally {
    await peer.close();
  }
});

test("the table and its actions work with the keyboard alone", async ({ page }) => {
  await signIn(page);
  await tabTo(page, "Destinations");
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL("/destinations");

  await tabTo(page, "Search destinations");
  await page.keyboard.type("keyboard");
  await expect(page).toHaveURL("/destinations?q=keyboard");
  await expect(page.getByTestId("destinations-table").locator("tbody tr")).toHaveCount(1);

  // a state filter is a radio group: arrows move through it
  await tabTo(page, "All 1");
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowRight");
  await expect(page).toHaveURL(/state=backing_off/);
  await expect(row(page, KEYBOARD_DESTINATION)).toBeVisible();

  await tabTo(page, "Failing since");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("columnheader", { name: "Failing since" })).toHaveAttribute("aria-sort", "ascending");

  // Escape cancels a confirmation and changes nothing
  await tabTo(page, `Retry now ${KEYBOARD_DESTINATION}`);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("dialog")).toBeVisible();
  await expect(page.getByRole("dialog").getByRole("button", { name: "Retry now" })).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(page.getByRole("dialog")).toBeHidden();
  await expect(page.getByRole("button", { name: `Retry now ${KEYBOARD_DESTINATION}` })).toBeFocused();
  await expect(row(page, KEYBOARD_DESTINATION)).toHaveAttribute("data-state", "backing_off");

  await page.keyboard.press("Tab");
  await expect(page.getByRole("button", { name: `Reset ${KEYBOARD_DESTINATION}` })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("dialog", { name: `Reset ${KEYBOARD_DESTINATION}?` })).toBeVisible();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("status").filter({ hasText: KEYBOARD_DESTINATION })).toHaveText(`${KEYBOARD_DESTINATION}: retry timings reset.`);
  // no longer backing off, so the filter has nothing left
  await expect(page.getByText("No destination matches")).toBeVisible();
});

test("a destination's page shows its status, queue, transactions, rooms and discovery", async ({ page }) => {
  await signIn(page);
  await page.goto("/destinations");
  await row(page, DOWN_DESTINATION).getByRole("link", { name: DOWN_DESTINATION }).click();
  await expect(page).toHaveURL(`/destinations/${DOWN_DESTINATION}`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(DOWN_DESTINATION);
  await expect(page.getByTestId("destination-state")).toContainText("backing off");
  const countdown = page.getByTestId("next-retry");
  const first = seconds(await countdown.textContent());
  await expect.poll(async () => seconds(await countdown.textContent())).toBeLessThan(first);
  await expect(page.getByText("No transactions yet")).toBeVisible();
  await expect(page.getByText("No rooms shared")).toBeVisible();
  await expect(page.getByTestId("discovery-method")).toHaveText("federation_domain_overrides in the config");
  await expect(page.getByTestId("discovery-target")).toHaveText("http://127.0.0.1:18012");
  await screenshot(page, "destination");

  await page.getByRole("button", { name: "Clear discovery cache" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Clear cache" }).click();
  await expect(page.getByRole("status").filter({ hasText: DOWN_DESTINATION })).toHaveText(`${DOWN_DESTINATION}: discovery cache cleared.`);
});
