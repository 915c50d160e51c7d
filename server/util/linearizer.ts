/**
 * Runs async work one at a time per key, in the order it was queued (Synapse's Linearizer with one slot): every
 * change to one room goes through its room's queue, so two writers never interleave on the same room.
 */
export class Linearizer {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` once everything queued before it under `key` has finished (whether it succeeded or not). */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    // Tails never reject: each one waits for its call whatever the outcome.
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(() => fn());
    const tail = result.then(() => undefined, () => undefined);
    this.tails.set(key, tail);
    // Forget the key once nothing is queued behind this call, so idle keys do not pile up.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Whether work is running or queued under `key`. */
  isBusy(key: string): boolean {
    return this.tails.has(key);
  }
}
