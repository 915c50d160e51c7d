/** At most `limit` tasks at once; the others wait in arrival order (Synapse's concurrently_execute idea). */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new Error(`a semaphore needs at least one slot, not ${limit}`);
  }

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      // hand the slot straight to the next waiter, so a newcomer cannot overtake it
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
