/**
 * The overview, replication and rooms pages against the e2e server: live lag charts that gain points while
 * events flow (with pause and zoom), the overview's summaries, and rooms with their members and servers.
 */
import { expect, test, type APIRequestContext } from "@playwright/test";
import { callApi, screenshot, signIn } from "./fixtures/console";
import { DOWN_DESTINATION, SERVER_NAME } from "./fixtures/server";

/** A room of a local user, created through the console API as a script would. */
async function createRoom(request: APIRequestContext, localpart: string, name: string): Promise<{ userId: string; roomId: string }> {
  const userId = `@${localpart}:${SERVER_NAME}`;
  await callApi(request, "mutation", "users.create", { localpart });
  const { room_id } = await callApi<{ room_id: string }>(request, "mutation", "rooms.create", { creator: userId, name });
  return { userId, roomId: room_id };
}

test("the overview sums up instances, destinations by state and recent failures", async ({ page }) => {
  await signIn(page);
  await expect(page.getByTestId("instances")).toContainText("main");
  await expect(page.getByTestId("instances")).toContainText("alive");
  await expect.poll(async () => Number(await page.getByTestId("count-backing_off").textContent())).toBeGreaterThanOrEqual(1);
  await expect(page.getByTestId("count-healthy")).toHaveText(/^[1-9]/);
  await expect(page.getByTestId("recent-failures").getByRole("link", { name: DOWN_DESTINATION })).toBeVisible();
  await page.getByRole("link", { name: "backing off" }).click();
  await expect(page).toHaveURL("/destinations?state=backing_off");
  await expect(page.getByRole("radio", { name: /backing off/ })).toBeChecked();
});

test("the replication page's lag chart gains points while events flow, and pauses and zooms", async ({ page, request }) => {
  const { userId, roomId } = await createRoom(request, "replication", "Replication e2e");
  const send = (n: number) => callApi(request, "mutation", "rooms.send", { user_id: userId, room_id: roomId, type: "m.room.message", content: { msgtype: "m.text", body: `message ${n}` } });
  await signIn(page);
  await page.getByRole("link", { name: "Replication" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Replication");
  await expect(page.getByText("live", { exact: true })).toBeVisible();

  const chart = page.getByTestId("lag-chart-events");
  await send(1);
  await expect(chart).toBeVisible();
  const points = async () => Number(await chart.getAttribute("data-points"));
  const before = await points();
  // events keep flowing for about 3 seconds; samples arrive every second
  for (let n = 2; n <= 7; n++) {
    await send(n);
    await page.waitForTimeout(500);
  }
  await expect.poll(points).toBeGreaterThanOrEqual(before + 2);
  await expect(page.getByTestId("positions-table").locator('tr[data-stream="events"]')).toBeVisible();
  await screenshot(page, "replication");

  // paused: the chart keeps what it showed
  await page.getByRole("button", { name: "Pause" }).click();
  await expect(page.getByRole("button", { name: "Resume" })).toHaveAttribute("aria-pressed", "true");
  const frozen = await points();
  await page.waitForTimeout(2000);
  expect(await points()).toBe(frozen);
  await page.getByRole("button", { name: "Resume" }).click();
  await expect.poll(points).toBeGreaterThan(frozen);

  // dragging across the chart zooms in; Reset zoom goes back
  const canvas = chart.locator(".u-over");
  await canvas.scrollIntoViewIfNeeded();
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await expect(chart.getByRole("button", { name: "Reset zoom" })).toBeEnabled();
  await chart.getByRole("button", { name: "Reset zoom" }).click();
  await expect(chart.getByRole("button", { name: "Reset zoom" })).toBeDisabled();
});

test("the rooms page lists our rooms with their members and servers", async ({ page, request }) => {
  const { userId, roomId } = await createRoom(request, "rooms", "Rooms e2e");
  await signIn(page);
  await page.getByRole("link", { name: "Rooms" }).click();
  await expect(page).toHaveURL("/rooms");
  const listed = page.getByTestId("rooms-table").locator("tr", { hasText: roomId });
  await expect(listed).toContainText("Rooms e2e");
  await expect(listed).toContainText("joined");
  await screenshot(page, "rooms");

  await listed.getByRole("link", { name: "Rooms e2e" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Rooms e2e");
  await expect(page.getByTestId("members-table").locator("tr", { hasText: userId })).toContainText("join");
  await expect(page.getByTestId("servers-list")).toContainText(SERVER_NAME);
  await screenshot(page, "room");
});
