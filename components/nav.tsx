"use client";
/** The console's sidebar: which server this is, the sections, and sign-out. Add sections to NAV_ITEMS. */
import Link from "next/link";
import { usePathname } from "next/navigation";

const NAV_ITEMS: { href: string; label: string }[] = [
  { href: "/", label: "Overview" },
  { href: "/destinations", label: "Destinations" },
  { href: "/replication", label: "Replication" },
  { href: "/rooms", label: "Rooms" },
  { href: "/keys", label: "Keys" },
];

function isActive(pathname: string, href: string): boolean {
  return href === "/" ? pathname === "/" : pathname === href || pathname.startsWith(href + "/");
}

export function ConsoleNav({ serverName }: { serverName: string }) {
  const pathname = usePathname();
  return (
    <aside className="sidebar">
      <div className="brand">
        <span className="brand-name">Switchyard</span>
        <span className="brand-server" title="server name">{serverName}</span>
      </div>
      <nav aria-label="Console sections">
        <ul className="nav-links">
          {NAV_ITEMS.map((item) => (
            <li key={item.href}>
              <Link href={item.href} aria-current={isActive(pathname, item.href) ? "page" : undefined}>{item.label}</Link>
            </li>
          ))}
        </ul>
      </nav>
      <form className="sidebar-footer" method="post" action="/api/auth/logout">
        <button type="submit" className="link">Sign out</button>
      </form>
    </aside>
  );
}
