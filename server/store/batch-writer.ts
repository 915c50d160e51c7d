/**
 * Collects rows and writes them in batches: one database transaction per `maxDelayMs` or `maxBatch` rows instead
 * of one per row. For records whose loss in a crash is harmless (they are logs, or the work they describe is
 * idempotent), where the write would otherwise set the pace of a hot path.
 */
export interface BatchWriterOptions<T> {
  write(rows: T[]): Promise<void>;
  onError(error: Error, rows: number): void;
  maxBatch?: number;
  maxDelayMs?: number;
}

export class BatchWriter<T> {
  private queue: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly options: BatchWriterOptions<T>) {}

  add(row: T): void {
    this.queue.push(row);
    if (this.queue.length >= (this.options.maxBatch ?? 500)) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.maxDelayMs ?? 50);
  }

  /** Writes everything queued so far; resolves when it is written (or its failure reported). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const rows = this.queue;
    this.queue = [];
    if (rows.length > 0) {
      this.writing = this.writing.then(() => this.options.write(rows).catch((e: Error) => this.options.onError(e, rows.length)));
    }
    return this.writing;
  }
}
