/**
 * Synapse's _DestinationWakeupQueue: destinations whose queued work may wait a little (receipts in large rooms,
 * presence) are woken one after another, spaced so the whole queue drains within 30 s and never faster than one
 * per `maxDelayMs`, so that many destinations do not open connections all at once.
 */
export const MAX_TIME_IN_QUEUE_MS = 30_000;

export interface Wakeable {
  readonly hasNewData: boolean;
  attemptNewTransaction(): void;
}

export class DestinationWakeupQueue {
  /** insertion-ordered; adding a queued destination again keeps its place */
  private readonly queue = new Set<string>();
  private processing = false;

  constructor(
    private readonly getQueue: (destination: string) => Wakeable | null,
    private readonly maxDelayMs: number,
    private readonly sleep: (ms: number) => Promise<void>,
    private readonly isStopped: () => boolean,
  ) {}

  add(destination: string): void {
    this.queue.add(destination);
    if (!this.processing) void this.drain();
  }

  private async drain(): Promise<void> {
    this.processing = true;
    try {
      let delay = Math.min(this.maxDelayMs, MAX_TIME_IN_QUEUE_MS / this.queue.size);
      for (const destination of this.queue) {
        if (this.isStopped()) return;
        this.queue.delete(destination);
        const queue = this.getQueue(destination);
        // already woken by something else in the meantime
        if (!queue?.hasNewData) continue;
        queue.attemptNewTransaction();
        await this.sleep(delay);
        if (this.queue.size === 0) break;
        // more may have been added: speed up so that they too are woken within MAX_TIME_IN_QUEUE_MS
        delay = Math.min(delay, MAX_TIME_IN_QUEUE_MS / this.queue.size);
      }
    } finally {
      this.processing = false;
      if (this.queue.size > 0 && !this.isStopped()) void this.drain();
    }
  }
}
