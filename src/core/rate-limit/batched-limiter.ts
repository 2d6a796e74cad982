import type { RateLimiterAbstract } from "rate-limiter-flexible";

/**
 * A general limit counted in Redis without a Redis round trip on every request.
 *
 * When a process asks Redis for a point, it also reserves a share (RESERVE_SHARE) of the points
 * then left, and grants its next requests for the key from that reservation, in the process.
 * Reserved points are counted in Redis like granted ones, so however many processes reserve at
 * once, together they never grant more than the limit. A process gives back what it reserved
 * but did not use once the key has been idle for `idleReturnMs`, and when it closes.
 *
 * So a key costs a Redis command per reservation: its first request, then about one in every
 * tenth of the remaining points. Once fewer than 1 / RESERVE_SHARE points are left nothing is
 * reserved and every request asks Redis (exact at the end of a window). A process refuses
 * without asking Redis while its last answer said the window is used up (re-asking after
 * `idleReturnMs`, in case others gave points back), which spares Redis under a flood.
 *
 * A key's first request in a window knows nothing of it, so it reserves nothing: a client seen
 * once costs one command. A process remembers a key it granted more than one point in for a
 * window after its window ended: the first request of its next window reserves what the process
 * granted in the last one, up to a tenth of the limit. So the reservations that processes make
 * at a window's start add up to no more than the last window's use (a window that others had
 * already used gives back what does not fit, as any reservation does). While one request of a
 * key asks Redis, the key's other requests wait for that answer, or its failure, instead of
 * asking too: the requests in flight when a busy key's window ends cost one command, not one
 * each, and while Redis is unreachable they fail together instead of one after another.
 *
 * Used for the general per-IP and per-plan limits; the small per-route limits of the security
 * policy (login, password reset) count every request in Redis directly.
 */

/** The part of the remaining points a process reserves when it asks Redis. */
const RESERVE_SHARE = 0.1;
/** Past this many keys a process stops keeping local state for new keys (they ask every time). */
const MAX_TRACKED_KEYS = 100_000;

export interface LimitOutcome {
  readonly limit: number;
  readonly remaining: number;
  /** Milliseconds until the window ends. */
  readonly msBeforeReset: number;
}

/** Thrown when the limit is used up. */
export class LimitExceeded extends Error {
  constructor(readonly outcome: LimitOutcome) {
    super("rate limit exceeded");
    this.name = "LimitExceeded";
  }
}

interface KeyState {
  /** Points counted in the store (granted and reserved, by every process) at the last answer. */
  consumed: number;
  /** When the store's window for this key ends (epoch ms). */
  resetAt: number;
  /** Points counted in the store that this process may still grant. */
  reserved: number;
  /** When this process last asked the store about the key. */
  askedAt: number;
  /** When this process last granted a point for the key. */
  grantedAt: number;
  /** Points this process granted for the key in this window. */
  grants: number;
  /** A store call in flight for the key, if any; rejects with the store's error. */
  busy: Promise<unknown> | undefined;
}

export interface BatchedLimiter {
  readonly points: number;
  /**
   * Takes one point for `key` from this process's reservation, without waiting: the outcome,
   * or undefined when only the store can decide (then call consume).
   */
  take(key: string): LimitOutcome | undefined;
  /** Takes one point for `key`; throws LimitExceeded, or the store's error when it is unreachable. */
  consume(key: string): Promise<LimitOutcome>;
  /** Gives back every unused reservation and stops the timer. */
  close(): Promise<void>;
}

export interface BatchedLimiterOptions {
  /** Unused reservations of a key idle this long are given back (and refusals re-checked). */
  idleReturnMs: number;
  /** Called when giving points back fails; they stay counted until the window ends. */
  onReturnError(error: unknown): void;
}

export function createBatchedLimiter(
  store: RateLimiterAbstract,
  options: BatchedLimiterOptions,
): BatchedLimiter {
  const points = store.points;
  const windowMs = store.duration * 1000;
  const states = new Map<string, KeyState>();
  let timer: NodeJS.Timeout | undefined;

  const outcomeOf = (state: KeyState, now: number): LimitOutcome => ({
    limit: points,
    remaining: Math.max(0, points - state.consumed + state.reserved),
    msBeforeReset: Math.max(0, state.resetAt - now),
  });

  /** Grants one point of a key whose window is open from this process's reservation, if any. */
  const takeReserved = (state: KeyState, now: number): LimitOutcome | undefined => {
    if (state.reserved === 0) return undefined;
    state.reserved -= 1;
    state.grantedAt = now;
    state.grants += 1;
    return outcomeOf(state, now);
  };

  /** Marks `state` busy until `flight` settles; its waiters get its failure too. */
  function track(state: KeyState, flight: Promise<unknown>) {
    const done = () => {
      if (state.busy === flight) state.busy = undefined;
    };
    flight.then(done, done);
    state.busy = flight;
  }

  /**
   * Asks the store for one point plus a reservation, and records the answer. Returns whether
   * the point was granted; whatever the limit could not cover is given back first. `previous`
   * is the key's state, of this window or of the one before.
   */
  async function ask(key: string, previous: KeyState | undefined): Promise<[KeyState, boolean]> {
    const startedAt = Date.now();
    const sameWindow = previous !== undefined && startedAt < previous.resetAt;
    // A tenth of the points this process believes left; in a busy key's new window, what this
    // process granted in the last one, up to a tenth of the limit; nothing for a new key.
    let reserve = 0;
    if (sameWindow)
      reserve = Math.floor(Math.max(0, points - previous.consumed - 1) * RESERVE_SHARE);
    else if (previous) {
      reserve = Math.max(
        0,
        Math.min(Math.floor((points - 1) * RESERVE_SHARE), previous.grants - 1),
      );
    }
    const result = await store.penalty(key, 1 + reserve);
    let consumed = result.consumedPoints;
    const over = Math.max(0, consumed - points);
    // Over the limit: give back the reserve that does not fit, and refuse if even the
    // request's own point does not (a refused request stays counted, as in any limiter).
    const giveBack = Math.min(over, reserve);
    if (giveBack > 0) {
      await store.reward(key, giveBack);
      consumed -= giveBack;
    }
    const granted = over <= reserve;
    const now = Date.now();
    const state: KeyState = {
      consumed,
      resetAt: now + result.msBeforeNext,
      reserved: reserve - giveBack,
      askedAt: now,
      grantedAt: granted ? now : (previous?.grantedAt ?? 0),
      grants: (granted ? 1 : 0) + (sameWindow ? previous.grants : 0),
      busy: undefined,
    };
    const current = states.get(key);
    if (current && current !== previous && current.resetAt > now) {
      // A concurrent first request made a state meanwhile: merge into it.
      current.consumed = Math.max(current.consumed, consumed);
      current.reserved += state.reserved;
      current.grants += state.grants;
      return [current, granted];
    }
    if (previous && current === previous) {
      Object.assign(previous, { ...state, busy: previous.busy });
      return [previous, granted];
    }
    if (states.size < MAX_TRACKED_KEYS) states.set(key, state);
    scheduleScan();
    return [state, granted];
  }

  /** Gives back the reservations of idle keys, and forgets windows ended a window ago. */
  function scan(everything: boolean): Promise<void> {
    timer = undefined;
    const now = Date.now();
    const returns: Promise<void>[] = [];
    for (const [key, state] of states) {
      if (now >= state.resetAt) {
        // Its reservation ended with the window in the store. A busy key's use is kept for its
        // next window's first request; a key seen once is forgotten.
        state.reserved = 0;
        if (!state.busy && (state.grants <= 1 || now >= state.resetAt + windowMs)) {
          states.delete(key);
        }
        continue;
      }
      if (state.busy || state.reserved === 0) continue;
      if (!everything && now - state.grantedAt < options.idleReturnMs) continue;
      const unused = state.reserved;
      state.reserved = 0;
      const flight = store.reward(key, unused).then(
        () => {
          state.consumed -= unused;
        },
        (error: unknown) => options.onReturnError(error),
      );
      track(state, flight);
      returns.push(flight);
    }
    if (!everything && states.size > 0) scheduleScan();
    return Promise.all(returns).then(() => undefined);
  }

  function scheduleScan() {
    if (timer) return;
    timer = setTimeout(() => void scan(false), Math.max(50, options.idleReturnMs / 4));
    timer.unref();
  }

  return {
    points,
    take(key) {
      const state = states.get(key);
      if (!state) return undefined;
      const now = Date.now();
      return now < state.resetAt ? takeReserved(state, now) : undefined;
    },
    async consume(key) {
      for (;;) {
        const now = Date.now();
        const state = states.get(key);
        const current = state && now < state.resetAt ? state : undefined;
        if (current) {
          const taken = takeReserved(current, now);
          if (taken) return taken;
        }
        if (state?.busy) {
          // Another request is asking the store for this key: decide on its answer, or fail
          // with its error (the caller applies the limit's fail-open or fail-closed rule).
          await state.busy;
          continue;
        }
        if (current) {
          const usedUp = current.consumed >= points;
          if (usedUp && now - current.askedAt < options.idleReturnMs) {
            throw new LimitExceeded(outcomeOf(current, now));
          }
        }
        const flight = ask(key, state);
        if (state) track(state, flight);
        const [answered, granted] = await flight;
        const outcome = outcomeOf(answered, Date.now());
        if (!granted) throw new LimitExceeded(outcome);
        return outcome;
      }
    },
    async close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await Promise.all([...states.values()].map((state) => state.busy?.catch(() => undefined)));
      await scan(true);
      states.clear();
    },
  };
}
