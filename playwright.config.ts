/**
 * Browser tests of the console against the production build (`npm run build` first), served by our own server
 * (server/main.ts) exactly as `npm start` runs it, in Debian's chromium (never `playwright install`).
 */
import { defineConfig, devices } from "@playwright/test";
import { CONFIG_PATH, PORT } from "./e2e/fixtures/server";

export default defineConfig({
  testDir: "e2e",
  outputDir: "test-results",
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  timeout: 30_000,
  expect: { timeout: 10_000 },
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
      ],
    },
  },
  projects: [{ name: "chromium", use: { ...devices["Desktop Chrome"] } }],
  webServer: {
    // seed.ts fills the fresh database with the destinations the tests use, then the server starts on it
    command: `node_modules/.bin/tsx e2e/fixtures/seed.ts && node_modules/.bin/tsx server/main.ts --config ${CONFIG_PATH} --port ${PORT}`,
    // the key endpoint answers once the engine and Next are both ready
    url: `http://127.0.0.1:${PORT}/_matrix/key/v2/server`,
    reuseExistingServer: false,
    timeout: 90_000,
    stdout: "pipe",
    stderr: "pipe",
    env: { NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" },
  },
});
