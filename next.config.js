// @ts-check
/**
 * Next.js config for the operator console. The engine (server/main.ts, run by tsx) owns the database drivers and
 * network clients; Next must load them with Node's require, never bundle them, or a second copy would be built.
 * Telemetry is switched off by NEXT_TELEMETRY_DISABLED=1 in the npm scripts (Next has no config key for it).
 */

/** @type {import("next").NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  serverExternalPackages: [
    "@electric-sql/pglite",
    "@electric-sql/pglite-socket",
    "pglite-prisma-adapter",
    "@prisma/client",
    "@prisma/adapter-pg",
    "@prisma/driver-adapter-utils",
    "@prisma/schema-engine-wasm",
    "pg",
    "ioredis",
    "undici",
    "prom-client",
  ],
  // `npm test` runs `tsc --noEmit` over the whole project first; checking again inside `next build` would double
  // the build time and let an unrelated engine file's error block a console build.
  typescript: { ignoreBuildErrors: true },
};

export default nextConfig;
