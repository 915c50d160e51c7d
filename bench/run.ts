/**
 * `tsx bench/run.ts [NAME]`: runs one benchmark or all, prints one table, and merges the results into
 * bench/results/latest.json so that running one benchmark keeps the others' last results.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Benchmark, BenchRow } from "./harness";

/** name → module whose default export is the Benchmark; a new benchmark is one file and one line here. */
const BENCHMARKS: Record<string, () => Promise<{ default: Benchmark }>> = {
  crypto: () => import("./crypto"),
  inbound: () => import("./inbound"),
  rooms: () => import("./rooms"),
  fanout: () => import("./fanout"),
  replication: () => import("./replication"),
  memory: () => import("./memory"),
  console: () => import("./console"),
};

const RESULTS = join(import.meta.dirname, "results", "latest.json");

interface BenchResult {
  ran_at: string;
  node: string;
  rows: BenchRow[];
}

function table(results: Record<string, BenchRow[]>): string {
  const header = ["bench", "figure", "switchyard", "baseline", "unit", "ratio"];
  const lines = Object.entries(results).flatMap(([name, rows]) =>
    rows.map((r) => [name, r.figure, String(r.switchyard), String(r.baseline), r.unit, r.ratio.toFixed(3)]),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => (i >= 2 && i !== 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ");
  return [format(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(format)].join("\n");
}

async function readPrevious(): Promise<Record<string, BenchResult>> {
  try {
    return JSON.parse(await readFile(RESULTS, "utf8")) as Record<string, BenchResult>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw e;
  }
}

async function main(argv: string[]): Promise<number> {
  const names = argv.length > 0 ? argv : Object.keys(BENCHMARKS);
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    process.stderr.write(`error: unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(BENCHMARKS).join(", ")}\n`);
    return 1;
  }
  const results: Record<string, BenchRow[]> = {};
  for (const name of names) {
    const { default: benchmark } = await BENCHMARKS[name]!();
    results[name] = await benchmark();
  }
  process.stdout.write(table(results) + "\n");
  const merged = await readPrevious();
  const ranAt = new Date().toISOString();
  for (const [name, rows] of Object.entries(results)) merged[name] = { ran_at: ranAt, node: process.version, rows };
  await mkdir(join(import.meta.dirname, "results"), { recursive: true });
  await writeFile(RESULTS, JSON.stringify(merged, null, 2) + "\n");
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
