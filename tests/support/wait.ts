/** Polling for tests: wait until something happens, or fail naming what never did. */

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/** Waits for `probe` to return a value other than undefined; its last error, if any, goes into the failure. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, { timeoutMs = 20_000, intervalMs = 100 }: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Waits until `predicate` holds. */
export async function waitUntil(what: string, predicate: () => boolean, options: WaitOptions = {}): Promise<void> {
  await waitFor(what, () => (predicate() ? true : undefined), options);
}
