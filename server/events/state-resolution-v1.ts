/**
 * The original state resolution algorithm, used only by room version 1 (spec rooms/v1 "State resolution";
 * Synapse synapse/state/v1.py, whose details this follows where the spec is loose): resolve conflicted power
 * levels, then join rules, then memberships, each against the unconflicted state plus what was resolved before,
 * then every other conflicted key.
 */
import { createHash } from "node:crypto";
import { AuthError, authTypesForEvent, checkAuthRules } from "./auth-rules";
import type { Pdu } from "./pdu";
import type { RoomVersion } from "./room-versions";
import { StateResolutionEvents, type StateResolutionStore } from "./state-resolution-store";
import { parseStateKey, POWER_LEVELS_KEY, stateKey, type StateKey, type StateMap } from "./state-map";

/**
 * The v1 split differs from v2: a key that only some state sets have is unconflicted; only two different events
 * for the same key make a conflict.
 */
function separate(stateSets: StateMap<string>[]): { unconflicted: StateMap<string>; conflicted: Map<StateKey, Set<string>> } {
  const unconflicted: StateMap<string> = new Map();
  const conflicted = new Map<StateKey, Set<string>>();
  for (const set of stateSets) {
    for (const [key, id] of set) {
      const agreed = unconflicted.get(key);
      const disputed = conflicted.get(key);
      if (disputed) {
        disputed.add(id);
      } else if (agreed === undefined) {
        unconflicted.set(key, id);
      } else if (agreed !== id) {
        conflicted.set(key, new Set([agreed, id]));
        unconflicted.delete(key);
      }
    }
  }
  return { unconflicted, conflicted };
}

interface Candidate {
  id: string;
  event: Pdu;
  depth: number;
  sha1: string;
}

/** Highest depth first, then ascending SHA-1 of the event ID (the spec's tie-break). */
function byDepthDescending(a: Candidate, b: Candidate): number {
  if (a.depth !== b.depth) return b.depth - a.depth;
  return a.sha1 < b.sha1 ? -1 : a.sha1 > b.sha1 ? 1 : 0;
}

function allowed(event: Pdu, authState: StateMap<Pdu>, version: RoomVersion): boolean {
  try {
    checkAuthRules(event, authState, version);
    return true;
  } catch (e) {
    if (e instanceof AuthError) return false;
    throw e;
  }
}

/**
 * For power levels, join rules and memberships: from the oldest event (lowest depth) on, each next event replaces
 * the previous one while the auth rules allow it in the state holding the previous one.
 */
function resolveAuthKey(key: StateKey, candidates: Candidate[], authState: StateMap<Pdu>, version: RoomVersion): Candidate {
  const oldestFirst = [...candidates].sort(byDepthDescending).reverse();
  const local = new Map(authState);
  let accepted = oldestFirst[0]!;
  for (const next of oldestFirst.slice(1)) {
    local.set(key, accepted.event);
    if (!allowed(next.event, local, version)) break;
    accepted = next;
  }
  return accepted;
}

/** Any other key: the newest event the auth rules allow, or if none is allowed the oldest (as Synapse does). */
function resolveOtherKey(candidates: Candidate[], authState: StateMap<Pdu>, version: RoomVersion): Candidate {
  const newestFirst = [...candidates].sort(byDepthDescending);
  return newestFirst.find((candidate) => allowed(candidate.event, authState, version)) ?? newestFirst[newestFirst.length - 1]!;
}

export async function resolveStateV1(version: RoomVersion, stateSets: StateMap<string>[], store: StateResolutionStore): Promise<StateMap<string>> {
  const { unconflicted, conflicted } = separate(stateSets);
  if (conflicted.size === 0) return unconflicted;
  const events = new StateResolutionEvents(store);
  const conflictedIds = [...conflicted.values()].flatMap((ids) => [...ids]);
  await events.load(conflictedIds);
  // The rules only read the auth events selection of each event checked, so only those unconflicted keys are needed.
  const authKeys = new Set(
    conflictedIds.flatMap((id) => authTypesForEvent(events.get(id), version).map(([type, key]) => stateKey(type, key))),
  );
  const authIds = [...authKeys].flatMap((key) => unconflicted.get(key) ?? []);
  await events.load(authIds);
  const authState: StateMap<Pdu> = new Map();
  for (const key of authKeys) {
    const id = unconflicted.get(key);
    if (id !== undefined) authState.set(key, events.get(id));
  }
  const candidatesOf = (ids: Set<string>): Candidate[] =>
    [...ids].map((id) => {
      const event = events.get(id);
      const depth = typeof event.depth === "number" ? event.depth : 0;
      return { id, event, depth, sha1: createHash("sha1").update(id, "utf8").digest("hex") };
    });

  const resolved: StateMap<string> = new Map(unconflicted);
  const stage = (keys: StateKey[], pick: (key: StateKey, candidates: Candidate[]) => Candidate) => {
    const picked = keys.map((key) => [key, pick(key, candidatesOf(conflicted.get(key)!))] as const);
    // Keys of one stage do not see each other's outcome, only the earlier stages' (Synapse's order of updates).
    for (const [key, candidate] of picked) {
      resolved.set(key, candidate.id);
      authState.set(key, candidate.event);
    }
  };
  const keys = [...conflicted.keys()];
  const typeOf = (key: StateKey) => parseStateKey(key)[0];
  const authKeyPick = (key: StateKey, candidates: Candidate[]) => resolveAuthKey(key, candidates, authState, version);
  stage(keys.filter((key) => key === POWER_LEVELS_KEY), authKeyPick);
  stage(keys.filter((key) => typeOf(key) === "m.room.join_rules"), authKeyPick);
  stage(keys.filter((key) => typeOf(key) === "m.room.member"), authKeyPick);
  const done = (key: StateKey) => key === POWER_LEVELS_KEY || ["m.room.join_rules", "m.room.member"].includes(typeOf(key));
  stage(keys.filter((key) => !done(key)), (_key, candidates) => resolveOtherKey(candidates, authState, version));
  return resolved;
}
