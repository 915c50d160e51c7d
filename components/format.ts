/** Display formats shared by console views (and the CLI's tables). Timestamps are shown in the local time zone. */

/** "3d 4h", "2h 5m", "4m 12s", "9s", "30m": the two largest units, without a trailing zero. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const units: [string, number][] = [["d", 86_400], ["h", 3600], ["m", 60], ["s", 1]];
  const parts: string[] = [];
  let rest = total;
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (parts.length === 1) {
      if (n > 0) parts.push(`${n}${name}`);
      break;
    }
    if (n > 0) parts.push(`${n}${name}`);
  }
  return parts.length ? parts.join(" ") : "0s";
}

/** "2025-03-01 14:05:09" in local time: sortable and unambiguous for operators. */
export function formatTimestamp(ts: number): string {
  const d = new Date(ts);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "in 23h 59m" / "5m 2s ago" relative to `nowMs`. */
export function formatRelative(ts: number, nowMs: number): string {
  const delta = ts - nowMs;
  return delta >= 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

/** A live countdown: "09:58", "1:02:03" past an hour, "due" once it has run out. */
export function formatCountdown(ms: number): string {
  if (ms <= 0) return "due";
  const total = Math.ceil(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}

/** A short time span that keeps sub-second detail: "0ms", "850ms", "2.3s", then formatDuration ("12s", "4m 2s"). */
export function formatLag(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  return formatDuration(ms);
}

/** 100000 → "100,000" (fixed locale, so server and browser render the same text). */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}
