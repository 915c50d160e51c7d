/**
 * State resolution: the room state from several state sets (e.g. the states after each prev_event). Room version
 * 1 uses the original algorithm (state-resolution-v1.ts); 2–11 use v2 and 12 uses v2.1 (spec rooms/v2 and
 * rooms/v12 "State resolution"; Synapse synapse/state/v2.py; MSC4297), both here. v2.1 differs in two places:
 * the first iterative auth checks start from an empty state instead of the unconflicted state, and the full
 * conflicted set also holds the conflicted state subgraph (the auth events lying between two conflicted events).
 */
import { compareCodePoints } from "../crypto";
import { AuthError, authTypesForEvent, checkAuthRules } from "./auth-rules";
import { authEventIdsOf } from "./event-refs";
import type { Pdu } from "./pdu";
import { userPowerLevel } from "./power-levels";
import type { RoomVersion } from "./room-versions";
import { resolveStateV1 } from "./state-resolution-v1";
import { StateResolutionEvents, type StateResolutionStore } from "./state-resolution-store";
import { POWER_LEVELS_KEY, stateKey, stateKeyOfEvent, type StateKey, type StateMap } from "./state-map";

export type { StateResolutionStore } from "./state-resolution-store";

/** Resolves the room state from several state sets with the room version's algorithm (v1, v2 or v2.1). */
export function resolveState(version: RoomVersion, stateSets: StateMap<string>[], store: StateResolutionStore): Promise<StateMap<string>> {
  if (version.stateResolution === "v1") return resolveStateV1(version, stateSets, store);
  return new V2Resolution(version, new StateResolutionEvents(store), store).resolve(stateSets);
}

/** The v2 split: a key is unconflicted only if every state set has it with the same event. */
function separateStateSets(stateSets: StateMap<string>[]): { unconflicted: StateMap<string>; conflicted: Map<StateKey, Set<string>> } {
  const unconflicted: StateMap<string> = new Map();
  const conflicted = new Map<StateKey, Set<string>>();
  const keys = new Set(stateSets.flatMap((set) => [...set.keys()]));
  for (const key of keys) {
    const values = stateSets.map((set) => set.get(key));
    const first = values[0];
    if (first !== undefined && values.every((value) => value === first)) {
      unconflicted.set(key, first);
    } else {
      conflicted.set(key, new Set(values.filter((value): value is string => value !== undefined)));
    }
  }
  return { unconflicted, conflicted };
}

/** Power events: those that may take abilities away (spec), plus the create event (as Synapse counts it). */
function isPowerEvent(event: Pdu): boolean {
  if (event.state_key === "" && ["m.room.power_levels", "m.room.join_rules", "m.room.create"].includes(event.type)) return true;
  const { membership } = event.content;
  return (
    event.type === "m.room.member" &&
    (membership === "leave" || membership === "ban") &&
    typeof event.state_key === "string" &&
    event.sender !== event.state_key
  );
}

function timestampOf(event: Pdu): number {
  return typeof event.origin_server_ts === "number" ? event.origin_server_ts : 0;
}

/** A binary min-heap, for Kahn's algorithm over large conflicted sets. */
class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let at = items.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.less(items[at]!, items[parent]!)) break;
      [items[at], items[parent]] = [items[parent]!, items[at]!];
      at = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      const right = left + 1;
      let smallest = at;
      if (left < items.length && this.less(items[left]!, items[smallest]!)) smallest = left;
      if (right < items.length && this.less(items[right]!, items[smallest]!)) smallest = right;
      if (smallest === at) return top;
      [items[at], items[smallest]] = [items[smallest]!, items[at]!];
      at = smallest;
    }
  }
}

class V2Resolution {
  constructor(
    private readonly version: RoomVersion,
    private readonly events: StateResolutionEvents,
    private readonly store: StateResolutionStore,
  ) {}

  async resolve(stateSets: StateMap<string>[]): Promise<StateMap<string>> {
    const { unconflicted, conflicted } = separateStateSets(stateSets);
    if (conflicted.size === 0) return unconflicted;
    const conflictedIds = new Set([...conflicted.values()].flatMap((ids) => [...ids]));
    const candidates = new Set([...conflictedIds, ...(await this.authDifference(stateSets))]);
    if (this.version.stateResolution === "v2.1") for (const id of await this.conflictedSubgraph(conflictedIds)) candidates.add(id);
    await this.events.load(candidates);
    const fullConflictedSet = new Set([...candidates].filter((id) => this.events.find(id) !== undefined));

    const powerEvents = [...fullConflictedSet].filter((id) => isPowerEvent(this.events.get(id)));
    const sortedPowerEvents = await this.reverseTopologicalPowerSort(powerEvents, fullConflictedSet);
    const baseState = this.version.stateResolution === "v2.1" ? new Map<StateKey, string>() : unconflicted;
    const partial = await this.iterativeAuthChecks(sortedPowerEvents, baseState);

    const sorted = new Set(sortedPowerEvents);
    const leftovers = [...fullConflictedSet].filter((id) => !sorted.has(id));
    const ordered = await this.mainlineSort(leftovers, partial.get(POWER_LEVELS_KEY));
    const resolved = await this.iterativeAuthChecks(ordered, partial);

    for (const [key, id] of unconflicted) resolved.set(key, id);
    return resolved;
  }

  /**
   * Events in some but not all of the state sets' full auth chains. Like Synapse, each chain includes the state
   * set's own events, so an event that is in one set and only in another's auth chain does not count.
   */
  private async authDifference(stateSets: StateMap<string>[]): Promise<Set<string>> {
    const chains: Set<string>[] = [];
    for (const set of stateSets) {
      const ids = new Set(set.values());
      chains.push(new Set([...(await this.store.getAuthChain(ids)), ...ids]));
    }
    const union = new Set(chains.flatMap((chain) => [...chain]));
    return new Set([...union].filter((id) => !chains.every((chain) => chain.has(id))));
  }

  /** v2.1: the conflicted events and every auth event on an auth path from one conflicted event to another. */
  private async conflictedSubgraph(conflictedIds: Set<string>): Promise<Set<string>> {
    const subgraph = new Set(conflictedIds);
    if (conflictedIds.size < 2) return subgraph;
    // Only events below some conflicted event can lie on such a path; of those, keep the ones above another.
    const region = new Set([...(await this.store.getAuthChain(conflictedIds)), ...conflictedIds]);
    await this.events.load(region);
    const citedBy = new Map<string, string[]>();
    for (const id of region) {
      const event = this.events.find(id);
      if (!event) continue;
      for (const authId of authEventIdsOf(event, this.version)) {
        if (!region.has(authId)) continue;
        const citers = citedBy.get(authId);
        if (citers) citers.push(id);
        else citedBy.set(authId, [id]);
      }
    }
    const queue = [...conflictedIds];
    for (let id = queue.pop(); id !== undefined; id = queue.pop()) {
      for (const citer of citedBy.get(id) ?? []) {
        if (subgraph.has(citer)) continue;
        subgraph.add(citer);
        queue.push(citer);
      }
    }
    return subgraph;
  }

  /** The power level of the event's sender according to the event's own auth events (rejected or not, as Synapse). */
  private senderPowerLevel(event: Pdu): number {
    const authState: StateMap<Pdu> = new Map();
    for (const authId of authEventIdsOf(event, this.version)) {
      const authEvent = this.events.find(authId);
      const key = authEvent && stateKeyOfEvent(authEvent);
      if (authEvent && key !== undefined) authState.set(key, authEvent);
    }
    return typeof event.sender === "string" ? userPowerLevel(event.sender, authState, this.version) : 0;
  }

  /**
   * The power events and their auth ancestors within the full conflicted set, earliest first: Kahn's algorithm on
   * the auth DAG, taking at each step the event whose sender has the highest power level, then the earliest
   * origin_server_ts, then the smallest event ID.
   */
  private async reverseTopologicalPowerSort(eventIds: string[], fullConflictedSet: Set<string>): Promise<string[]> {
    const authEdges = new Map<string, Set<string>>();
    const stack = [...eventIds];
    for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
      if (authEdges.has(id)) continue;
      const edges = new Set<string>();
      authEdges.set(id, edges);
      for (const authId of authEventIdsOf(this.events.get(id), this.version)) {
        if (!fullConflictedSet.has(authId)) continue;
        edges.add(authId);
        if (!authEdges.has(authId)) stack.push(authId);
      }
    }
    await this.events.load([...authEdges.keys()].flatMap((id) => authEventIdsOf(this.events.get(id), this.version)));

    const order = new Map<string, { power: number; ts: number }>();
    const citers = new Map<string, string[]>();
    for (const [id, edges] of authEdges) {
      const event = this.events.get(id);
      order.set(id, { power: this.senderPowerLevel(event), ts: timestampOf(event) });
      for (const authId of edges) {
        const list = citers.get(authId);
        if (list) list.push(id);
        else citers.set(authId, [id]);
      }
    }
    const before = (a: string, b: string): boolean => {
      const x = order.get(a)!;
      const y = order.get(b)!;
      if (x.power !== y.power) return x.power > y.power;
      if (x.ts !== y.ts) return x.ts < y.ts;
      return compareCodePoints(a, b) < 0;
    };
    const ready = new MinHeap<string>(before);
    const remaining = new Map<string, number>();
    for (const [id, edges] of authEdges) {
      remaining.set(id, edges.size);
      if (edges.size === 0) ready.push(id);
    }
    const sorted: string[] = [];
    for (let id = ready.pop(); id !== undefined; id = ready.pop()) {
      sorted.push(id);
      for (const citer of citers.get(id) ?? []) {
        const left = remaining.get(citer)! - 1;
        remaining.set(citer, left);
        if (left === 0) ready.push(citer);
      }
    }
    return sorted;
  }

  /**
   * Applies each event in turn if the auth rules allow it against its auth events overridden by the state built so
   * far (spec "Iterative auth checks"); rejected events and rejected auth events take no part.
   */
  private async iterativeAuthChecks(eventIds: string[], baseState: StateMap<string>): Promise<StateMap<string>> {
    const resolved = new Map(baseState);
    await this.events.load(eventIds.flatMap((id) => authEventIdsOf(this.events.get(id), this.version)));
    for (const id of eventIds) {
      const event = this.events.get(id);
      const key = stateKeyOfEvent(event);
      if (key === undefined || this.events.isRejected(id)) continue;
      const authState: StateMap<Pdu> = new Map();
      for (const authId of authEventIdsOf(event, this.version)) {
        const authEvent = this.events.find(authId);
        const authKey = authEvent && stateKeyOfEvent(authEvent);
        if (authEvent && authKey !== undefined && !this.events.isRejected(authId)) authState.set(authKey, authEvent);
      }
      const fromState = authTypesForEvent(event, this.version)
        .map(([type, key]) => [stateKey(type, key), resolved.get(stateKey(type, key))] as const)
        .filter((entry): entry is readonly [StateKey, string] => entry[1] !== undefined);
      await this.events.load(fromState.map(([, stateId]) => stateId));
      for (const [authKey, stateId] of fromState) {
        if (!this.events.isRejected(stateId)) authState.set(authKey, this.events.get(stateId));
      }
      try {
        checkAuthRules(event, authState, this.version);
        resolved.set(key, id);
      } catch (e) {
        if (!(e instanceof AuthError)) throw e;
      }
    }
    return resolved;
  }

  /** The m.room.power_levels event among this event's auth events, if any. */
  private async powerLevelsAuthEvent(eventId: string): Promise<string | undefined> {
    await this.events.load([eventId]);
    const authIds = authEventIdsOf(this.events.get(eventId), this.version);
    await this.events.load(authIds);
    return authIds.find((authId) => {
      const authEvent = this.events.find(authId);
      return authEvent !== undefined && stateKeyOfEvent(authEvent) === POWER_LEVELS_KEY;
    });
  }

  /**
   * Orders events by the position in the resolved power levels' mainline of the closest power levels event in
   * their auth chains (older first, none first of all), then origin_server_ts, then event ID.
   */
  private async mainlineSort(eventIds: string[], resolvedPowerLevels: string | undefined): Promise<string[]> {
    if (eventIds.length === 0) return [];
    const mainline: string[] = [];
    for (let id = resolvedPowerLevels; id !== undefined; id = await this.powerLevelsAuthEvent(id)) mainline.push(id);
    const position = new Map(mainline.reverse().map((id, index) => [id, index + 1]));

    // Every event on a walk down the power levels chain meets the mainline at the same place, so remember it for all.
    const depth = new Map<string, number>(position);
    for (const eventId of eventIds) {
      const walked: string[] = [];
      let found = 0;
      for (let id: string | undefined = eventId; id !== undefined; id = await this.powerLevelsAuthEvent(id)) {
        const known = depth.get(id);
        if (known !== undefined) {
          found = known;
          break;
        }
        walked.push(id);
      }
      for (const id of walked) depth.set(id, found);
    }
    return [...eventIds].sort((a, b) => {
      const byDepth = depth.get(a)! - depth.get(b)!;
      if (byDepth !== 0) return byDepth;
      const byTs = timestampOf(this.events.get(a)) - timestampOf(this.events.get(b));
      return byTs !== 0 ? byTs : compareCodePoints(a, b);
    });
  }
}
