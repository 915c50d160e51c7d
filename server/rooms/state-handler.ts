/**
 * StateHandler (Synapse synapse/state/__init__.py): the room state before an event, from the states after its
 * prev_events (resolved with the room version's algorithm when they differ), and the events the auth rules
 * read from a state. Reads stored states and events; writes nothing.
 */
import {
  AuthError, authEventIdsOf, authTypesForEvent, checkAuthEventsList, checkAuthRules, CREATE_KEY, InvalidEventError,
  listedAuthEventIdsOf, resolveState, stateKey, stateKeyOfEvent,
  type Pdu, type RoomVersion, type StateMap, type StateResolutionStore,
} from "../events";
import type { EventStore } from "../store/event-store";
import type { StateStore } from "../store/state-store";

/** What persisting a timeline event needs to know about the state it was built or received on (Synapse's EventContext). */
export interface EventContext {
  /** the room state before the event (after its prev_events, resolved) */
  stateBefore: StateMap<string>;
  /** the state group holding exactly `stateBefore`, when there is one to reuse or build on */
  stateGroupBefore: number | null;
}

/** The context of a create event: nothing before it. */
export function emptyContext(): EventContext {
  return { stateBefore: new Map(), stateGroupBefore: null };
}

function sameState(a: StateMap<string>, b: StateMap<string>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, id] of a) if (b.get(key) !== id) return false;
  return true;
}

export class StateHandler {
  readonly resolutionStore: StateResolutionStore;

  constructor(
    private readonly events: EventStore,
    private readonly state: StateStore,
  ) {
    this.resolutionStore = {
      getEvents: async (ids) => new Map([...(await events.getEvents(ids))].map(([id, e]) => [id, e.pdu])),
      getAuthChain: (ids) => events.getAuthChainIds(ids),
      getRejectedEventIds: async (ids) => new Set([...(await events.getEvents(ids)).values()].filter((e) => e.rejectedReason !== null).map((e) => e.eventId)),
    };
  }

  /**
   * Resolves state sets with the room version's algorithm. `pending` holds events not persisted yet that the sets
   * name (the event being persisted is in the state after itself): resolution must see them like stored ones.
   */
  resolve(version: RoomVersion, stateSets: StateMap<string>[], pending: ReadonlyMap<string, PendingEvent> = new Map()): Promise<StateMap<string>> {
    if (pending.size === 0) return resolveState(version, stateSets, this.resolutionStore);
    const store = this.resolutionStore;
    const stored = (ids: Iterable<string>) => [...ids].filter((id) => !pending.has(id));
    return resolveState(version, stateSets, {
      getEvents: async (ids) => {
        const found = await store.getEvents(stored(ids));
        for (const id of ids) {
          const event = pending.get(id);
          if (event) found.set(id, event.pdu);
        }
        return found;
      },
      getAuthChain: async (ids) => {
        const starts = [...ids].flatMap((id) => {
          const event = pending.get(id);
          return event ? authEventIdsOf(event.pdu, version) : [id];
        });
        const pendingAuth = [...ids].flatMap((id) => (pending.has(id) ? authEventIdsOf(pending.get(id)!.pdu, version) : []));
        return new Set([...pendingAuth, ...(await store.getAuthChain(stored(starts)))]);
      },
      getRejectedEventIds: async (ids) => {
        const rejected = await store.getRejectedEventIds!(stored(ids));
        for (const id of ids) if (pending.get(id)?.rejected) rejected.add(id);
        return rejected;
      },
    });
  }

  /**
   * The context of an event whose prev_events are `prevEventIds` (timeline events we hold), plus `extraStates`:
   * the states after prev events we do not hold, as other servers told us. Throws when a prev event has no state.
   */
  async computeContext(version: RoomVersion, prevEventIds: string[], extraStates: StateMap<string>[] = []): Promise<EventContext> {
    const groups = await this.state.stateGroupsOfEvents(prevEventIds);
    const missing = prevEventIds.filter((id) => !groups.has(id));
    if (missing.length > 0) throw new Error(`no state is known after ${missing.join(", ")}`);
    const distinctGroups = [...new Set([...groups.values()].map((g) => g.group))];
    if (extraStates.length === 0 && distinctGroups.length === 1) {
      const group = distinctGroups[0]!;
      return { stateBefore: await this.state.getStateGroupState(group), stateGroupBefore: group };
    }
    const groupStates = await Promise.all(distinctGroups.map(async (group) => ({ group, state: await this.state.getStateGroupState(group) })));
    const sets = [...groupStates.map((g) => g.state), ...extraStates];
    if (sets.length === 0) return { stateBefore: new Map(), stateGroupBefore: null };
    const resolved = sets.length === 1 ? sets[0]! : await this.resolve(version, sets);
    // Resolution often lands on one side's state exactly; then that group can be shared instead of copied.
    const same = groupStates.find((g) => sameState(g.state, resolved));
    return { stateBefore: resolved, stateGroupBefore: same?.group ?? null };
  }

  /** The state before a timeline event we hold (what /state_ids serves), or null for an event without state. */
  async stateBeforeEvent(eventId: string): Promise<StateMap<string> | null> {
    const group = await this.state.stateGroupOfEvent(eventId);
    if (!group) return null;
    const state = await this.state.getStateGroupState(group.group);
    for (const [key, id] of state) {
      if (id !== eventId) continue;
      if (group.replacesState === null) state.delete(key);
      else state.set(key, group.replacesState);
    }
    return state;
  }

  /**
   * The auth state the rules read for `event` out of `state` (the auth events selection, plus the create event,
   * which v12 events do not cite): rejected events never count.
   */
  async authStateFor(event: Pdu, version: RoomVersion, state: StateMap<string>): Promise<StateMap<Pdu>> {
    const keys = [CREATE_KEY, ...authTypesForEvent(event, version).map(([type, key]) => stateKey(type, key))];
    const wanted = new Map<string, string>();
    for (const key of keys) {
      const id = state.get(key);
      if (id !== undefined) wanted.set(key, id);
    }
    const events = await this.events.getEvents(wanted.values());
    const authState: StateMap<Pdu> = new Map();
    for (const [key, id] of wanted) {
      const stored = events.get(id);
      if (stored && stored.rejectedReason === null) authState.set(key, stored.pdu);
    }
    return authState;
  }

  /**
   * The spec's checks "considering the event's auth_events": they all exist, none was rejected, they are the
   * right ones, and the rules pass against them. Returns why the event must be rejected, or null when it passes.
   * `pending` holds events persisted in the same batch (an auth chain arriving together), with their verdicts.
   */
  async rejectionByAuthEvents(event: Pdu, version: RoomVersion, pending: ReadonlyMap<string, PendingEvent> = new Map()): Promise<string | null> {
    let listed: string[];
    let all: string[];
    try {
      listed = listedAuthEventIdsOf(event, version);
      all = authEventIdsOf(event, version);
    } catch (e) {
      if (e instanceof InvalidEventError) return e.message;
      throw e;
    }
    const stored = await this.events.getEvents(all.filter((id) => !pending.has(id)));
    const found = new Map<string, PendingEvent>();
    for (const id of all) {
      const entry = pending.get(id) ?? storedAsPending(stored.get(id));
      if (!entry) return `auth event ${id} is unknown`;
      found.set(id, entry);
    }
    const rejected = new Set([...found.values()].filter((e) => e.rejected).map((e) => e.pdu));
    try {
      checkAuthEventsList(event, listed.map((id) => found.get(id)!.pdu), version, (authEvent) => rejected.has(authEvent));
      checkAuthRules(event, authStateFromEvents([...found.values()].filter((e) => !e.rejected).map((e) => e.pdu)), version);
    } catch (e) {
      if (e instanceof AuthError) return e.message;
      throw e;
    }
    return null;
  }

  /** The auth rules against a state (before the event, or the current state for soft failure): why it fails, or null. */
  async rejectionByState(event: Pdu, version: RoomVersion, state: StateMap<string>): Promise<string | null> {
    try {
      checkAuthRules(event, await this.authStateFor(event, version, state), version);
    } catch (e) {
      if (e instanceof AuthError) return e.message;
      throw e;
    }
    return null;
  }
}

/** An event and whether it was rejected, for auth checks over a batch not yet persisted. */
export interface PendingEvent {
  pdu: Pdu;
  rejected: boolean;
}

function storedAsPending(stored: { pdu: Pdu; rejectedReason: string | null } | undefined): PendingEvent | undefined {
  return stored && { pdu: stored.pdu, rejected: stored.rejectedReason !== null };
}

/** The state the rules read from an event's own auth events (v12: with the create event its room ID names). */
export function authStateFromEvents(authEvents: Iterable<Pdu>): StateMap<Pdu> {
  const authState: StateMap<Pdu> = new Map();
  for (const authEvent of authEvents) {
    const key = stateKeyOfEvent(authEvent);
    if (key !== undefined) authState.set(key, authEvent);
  }
  return authState;
}
