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
  private entries: Entry<R>[] = [];
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
    const keep = this.entries.findIndex((e) => e.token > token);
    this.entries = keep < 0 ? [] : this.entries.slice(keep);
  }

  readonly updateFunction = async (_instanceName: string, fromToken: Token, uptoToken: Token, limit: number): Promise<StreamUpdateResult<R>> => {
    this.expire(this.now());
    // A consumer ahead of us saw our previous life: everything we still hold is new to it.
    const from = fromToken > this.token ? -1 : fromToken;
    const updates: Array<[Token, R]> = [];
    for (const e of this.entries) {
      if (e.token <= from) continue;
      if (e.token > uptoToken) break;
      const last = updates[updates.length - 1];
      if (updates.length >= limit && last && last[0] !== e.token) return { updates, upto_token: last[0], limited: true };
      updates.push([e.token, e.row]);
    }
    return { updates, upto_token: uptoToken, limited: false };
  };

  private expire(now: number): void {
    let drop = 0;
    const overflow = this.entries.length - this.maxRows;
    while (drop < this.entries.length && (drop < overflow || this.entries[drop]!.ts < now - this.retentionMs)) drop++;
    if (drop > 0) this.entries = this.entries.slice(drop);
  }
}
