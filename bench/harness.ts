/**
 * What a benchmark returns, and how it measures. Every figure is compared with a baseline measured in the same
 * run on the same machine, so the ratio means something even where absolute numbers do not.
 */

export interface BenchRow {
  figure: string;
  /** our implementation, in `unit` */
  switchyard: number;
  /** the baseline, in `unit` */
  baseline: number;
  unit: string;
  /** switchyard ÷ baseline: above 1 is faster than the baseline for ops/s */
  ratio: number;
}

export type Benchmark = () => Promise<BenchRow[]>;

/** Calls `fn` repeatedly for about `budgetMs` (after a warm-up of half that) and returns calls per second. */
export async function opsPerSecond(fn: () => unknown, budgetMs: number): Promise<number> {
  const run = async (ms: number): Promise<number> => {
    const start = performance.now();
    let calls = 0;
    let elapsed = 0;
    while (elapsed < ms) {
      // Batches keep the clock reads out of the measured cost.
      for (let i = 0; i < 50; i++) {
        const result = fn();
        if (result instanceof Promise) await result;
      }
      calls += 50;
      elapsed = performance.now() - start;
    }
    return (calls * 1000) / elapsed;
  };
  // Half the budget again as warm-up, so the JIT has settled before the measured run (on both sides alike).
  await run(budgetMs / 2);
  return run(budgetMs);
}

export async function compareOps(figure: string, switchyard: () => unknown, baseline: () => unknown, budgetMs: number): Promise<BenchRow> {
  const ours = await opsPerSecond(switchyard, budgetMs);
  const theirs = await opsPerSecond(baseline, budgetMs);
  return { figure, switchyard: Math.round(ours), baseline: Math.round(theirs), unit: "ops/s", ratio: Number((ours / theirs).toFixed(3)) };
}
