/**
 * A stream written from memory (typing, the federation stream): rows are kept with their token for a while so
 * consumers that missed them can read them back over HTTP, like Synapse's typing handler and
 * FederationRemoteSendQueue. Tokens start at 0 with the process, so consumers see a reset after a restart.
 */
import type { StreamDefinition, StreamUpdateResult, StreamWriter, Token } from "./base";

interface Entry<R> {
  token: Token;
  row: R;
  ts: number;
}

export interface MemoryStreamWriterOptions {
  now?: () => number;
  /** rows older than this are dropped (Synapse keeps its federation send queue 5 minutes) */
  retentionMs?: number;
  /** hard cap on rows kept, oldest dropped first */
  maxRows?: number;
}

export class MemoryStreamWriter<R> implements StreamWriter<R> {
  /** kept rows are entries[head..]: dropping old rows moves head, so neither append nor a read copies them all */
  private entries: Entry<R>[] = [];
  private head = 0;
  private token = 0;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private readonly maxRows: number;

  constructor(readonly stream: StreamDefinition<R>, options: MemoryStreamWriterOptions = {}) {
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs ?? 5 * 60_000;
    this.maxRows = options.maxRows ?? 100_000;
  }

  currentToken(): Token {
    return this.token;
  }

  /** Writes rows under one new token (they arrive as one batch) and returns it; the caller then pokes the streamer. */
  append(...rows: R[]): Token {
    if (rows.length === 0) throw new Error("append needs at least one row");
    const token = ++this.token;
    const ts = this.now();
    for (const row of rows) this.entries.push({ token, row, ts });
    this.expire(ts);
    return token;
  }

  /** Drops rows up to `token`, e.g. once every federation sender has acknowledged them. */
  discardUpTo(token: Token): void {
    this.drop(this.firstAfter(token));
  }

  readonly updateFunction = async (_instanceName: string, fromToken: Token, uptoToken: Token, limit: number): Promise<StreamUpdateResult<R>> => {
    this.expire(this.now());
    // A consumer ahead of us saw our previous life: everything we still hold is new to it.
    const from = fromToken > this.token ? -1 : fromToken;
    const updates: Array<[Token, R]> = [];
    for (let i = this.firstAfter(from); i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.token > uptoToken) break;
      const last = updates[updates.length - 1];
      if (updates.length >= limit && last && last[0] !== e.token) return { updates, upto_token: last[0], limited: true };
      updates.push([e.token, e.row]);
    }
    return { updates, upto_token: uptoToken, limited: false };
  };

  private expire(now: number): void {
    let end = this.head;
    const overflowEnd = this.entries.length - this.maxRows;
    while (end < this.entries.length && (end < overflowEnd || this.entries[end]!.ts < now - this.retentionMs)) end++;
    this.drop(end);
  }

  /** Index of the first kept row with a token after `token` (tokens ascend: binary search). */
  private firstAfter(token: Token): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.token > token) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Forgets the rows before index `end`, compacting once the dropped part outweighs the kept one. */
  private drop(end: number): void {
    if (end <= this.head) return;
    this.head = end;
    if (this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
