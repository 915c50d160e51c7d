/**
 * Room state keyed by (event type, state key), the shape the auth rules and state resolution work on. The pair is
 * folded into one string so that plain Maps can hold it: NUL cannot occur in either part of an event received as
 * JSON text that we accept, so the join is unambiguous.
 */
import type { Pdu } from "./pdu";

export type StateKey = string;
export type StateMap<T> = Map<StateKey, T>;

const SEPARATOR = "\u0000";

export function stateKey(type: string, stateKeyValue: string): StateKey {
  return type + SEPARATOR + stateKeyValue;
}

/** The (type, state_key) pair a StateKey was made from. */
export function parseStateKey(key: StateKey): [type: string, stateKey: string] {
  const at = key.indexOf(SEPARATOR);
  if (at < 0) throw new Error(`not a state key: ${JSON.stringify(key)}`);
  return [key.slice(0, at), key.slice(at + 1)];
}

/** The StateKey a state event occupies, or undefined for a non-state event (no string `state_key`). */
export function stateKeyOfEvent(event: Pdu): StateKey | undefined {
  return typeof event.state_key === "string" ? stateKey(event.type, event.state_key) : undefined;
}

export const CREATE_KEY = stateKey("m.room.create", "");
export const POWER_LEVELS_KEY = stateKey("m.room.power_levels", "");
export const JOIN_RULES_KEY = stateKey("m.room.join_rules", "");

export function memberKey(userId: string): StateKey {
  return stateKey("m.room.member", userId);
}
