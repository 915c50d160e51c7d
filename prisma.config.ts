// Used by the Prisma CLI (`npm run db:generate`). The app never needs the CLI's engine binary: migrations are
// applied by server/store/migrate.ts through Prisma's WASM schema engine.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
});
