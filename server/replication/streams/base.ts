/**
 * What every replication stream has (Synapse: synapse/replication/tcp/streams/_base.py): a name, a row shape
 * (the JSON array that travels in RDATA and in get_repl_stream_updates), and, on the process that writes it,
 * a current token and an update function that reads rows back between two tokens.
 */
import { z } from "zod";
import type { Token } from "../commands";

export type { Token };

/** Rows asked of an update function at a time; more are fetched while `limited` (Synapse's target). */
export const STREAM_UPDATE_TARGET_ROW_COUNT = 100;

export interface StreamUpdateResult<R> {
  /** (token, row) in token order; several rows may share a token */
  updates: Array<[Token, R]>;
  /** the position the caller has now caught up to */
  upto_token: Token;
  /** more rows exist after upto_token: call again from there */
  limited: boolean;
}

/**
 * Rows written by `instanceName` with fromToken < token ≤ uptoToken, about `limit` of them; a page never
 * splits the rows of one token.
 */
export type UpdateFunction<R> = (instanceName: string, fromToken: Token, uptoToken: Token, limit: number) => Promise<StreamUpdateResult<R>>;

export interface StreamDefinition<R = unknown> {
  readonly name: string;
  /** the row as it travels on the wire (a JSON array), validated at every boundary */
  readonly row: z.ZodType<R>;
  /**
   * In-memory streams (typing, federation) start again at 0 when their writer restarts, so a lower position
   * means a reset, not a stale message; the others never go backwards.
   */
  readonly resettable: boolean;
}

export function defineStream<R>(name: string, row: z.ZodType<R>, options: { resettable: boolean }): StreamDefinition<R> {
  return { name, row, resettable: options.resettable };
}

/** The writing side of a stream, in the process that writes it. */
export interface StreamWriter<R = unknown> {
  readonly stream: StreamDefinition<R>;
  /** the newest token written by this process; rows up to it are readable through `updateFunction` */
  currentToken(): Token;
  readonly updateFunction: UpdateFunction<R>;
}

/** Synapse's get_updates_since: nothing to read when the tokens are equal. */
export function getUpdatesSince<R>(
  updateFunction: UpdateFunction<R>, instanceName: string, fromToken: Token, uptoToken: Token,
  limit = STREAM_UPDATE_TARGET_ROW_COUNT,
): Promise<StreamUpdateResult<R>> {
  if (fromToken === uptoToken) return Promise.resolve({ updates: [], upto_token: uptoToken, limited: false });
  return updateFunction(instanceName, fromToken, uptoToken, limit);
}

/** Rows sharing a token, together: [(1,a),(1,b),(2,c)] → [(1,[a,b]),(2,[c])]. */
export function groupByToken<R>(updates: ReadonlyArray<readonly [Token, R]>): Array<[Token, R[]]> {
  const groups: Array<[Token, R[]]> = [];
  for (const [token, row] of updates) {
    const last = groups[groups.length - 1];
    if (last && last[0] === token) last[1].push(row);
    else groups.push([token, [row]]);
  }
  return groups;
}

/** RDATA tokens: every row but the last of a token goes out as "batch" (null). */
export function batchTokens<R>(updates: ReadonlyArray<readonly [Token, R]>): Array<[Token | null, R]> {
  return updates.map(([token, row], i) => [updates[i + 1]?.[0] === token ? null : token, row]);
}

/** Any JSON value (rows carry EDU contents and receipt data as they are). */
export const jsonValue = z.json();
export const jsonObject = z.record(z.string(), z.json());
