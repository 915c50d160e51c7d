/**
 * The signed-in console: sidebar and content. The session check here keeps signed-out browsers from seeing any of
 * it; the data itself comes through tRPC, which checks every call again (layouts are not re-run on client-side
 * navigation, so this check alone would not notice a session that expired while the page was open).
 */
import type { ReactNode } from "react";
import { ConsoleNav } from "@/components/nav";
import { Providers } from "@/components/trpc";
import { requireAdminSession } from "@/server/api/session";

export default async function ConsoleLayout({ children }: { children: ReactNode }) {
  const hs = await requireAdminSession();
  return (
    <Providers>
      <a className="skip-link" href="#main">Skip to content</a>
      <div className="shell">
        <ConsoleNav serverName={hs.config.server_name} />
        <main id="main" className="content">{children}</main>
      </div>
    </Providers>
  );
}
