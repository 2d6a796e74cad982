import type { RateLimiterAbstract } from "rate-limiter-flexible";

/**
 * A general limit counted in Redis without a Redis round trip on every request.
 *
 * Each process keeps, per key, the count Redis returned at its last sync and decides locally
 * while it may: it grants at most a share (ALLOWANCE_SHARE) of the remaining points before it
 * must sync again, and sends the points it granted in one command once half of that share is
 * used, or `maxSyncAgeMs` after its last sync at the latest. A key's first request and, once
 * fewer than 1 / ALLOWANCE_SHARE points are left, every request sync (exact near the limit);
 * in between a key costs a Redis command per batch. With up to 1 / ALLOWANCE_SHARE processes granting their share
 * at once, the limit holds; beyond that the overshoot stays a fraction of what was left.
 * Refusals while the window lasts are decided locally too, which spares Redis under a flood.
 *
 * Used for the general per-IP and per-plan limits; the small per-route limits of the security
 * policy (login, password reset) count every request in Redis directly.
 */

/** The part of the remaining points a process may grant before it syncs with the store. */
const ALLOWANCE_SHARE = 0.1;
/** Past this many keys a process stops keeping local state for new keys (they sync every time). */
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
  /** Points consumed in the store, as of the last sync. */
  consumed: number;
  /** When the store's window for this key ends (epoch ms). */
  resetAt: number;
  /** Points granted here since the last sync, not yet sent. */
  pending: number;
  /** How many points this process may grant before it has to sync. */
  allowance: number;
  /** When this process last synced the key (epoch ms). */
  syncedAt: number;
  /** The sync in flight, if any. */
  syncing: Promise<void> | undefined;
}

export interface BatchedLimiter {
  readonly points: number;
  /** Takes one point for `key`; throws LimitExceeded, or the store's error when it is unreachable. */
  consume(key: string): Promise<LimitOutcome>;
  /** Sends what is pending and stops the timer. */
  close(): Promise<void>;
}

export interface BatchedLimiterOptions {
  /** How often pending counts are looked at. */
  scanIntervalMs: number;
  /**
   * A key's pending points are sent once half its allowance is used, when its window is about
   * to end, and at the latest this long after its last sync.
   */
  maxSyncAgeMs: number;
  /** Called when a background flush fails; the points it carried are dropped. */
  onFlushError(error: unknown): void;
}

export function createBatchedLimiter(
  store: RateLimiterAbstract,
  options: BatchedLimiterOptions,
): BatchedLimiter {
  const points = store.points;
  const states = new Map<string, KeyState>();
  let timer: NodeJS.Timeout | undefined;

  const outcomeOf = (state: KeyState, now: number): LimitOutcome => ({
    limit: points,
    remaining: Math.max(0, points - state.consumed - state.pending),
    msBeforeReset: Math.max(0, state.resetAt - now),
  });

  /**
   * Sends what is pending for `key` plus `extra` points, and refreshes its state from the
   * store's answer. Points granted while the sync is in flight stay pending for the next one.
   */
  async function sync(key: string, state: KeyState | undefined, extra: number) {
    const batch = state?.pending ?? 0;
    const result = await store.penalty(key, batch + extra);
    const now = Date.now();
    const fresh: Omit<KeyState, "syncing"> = {
      consumed: result.consumedPoints,
      resetAt: now + result.msBeforeNext,
      syncedAt: now,
      pending: state ? state.pending - batch : 0,
      allowance: Math.floor(Math.max(0, points - result.consumedPoints) * ALLOWANCE_SHARE),
    };
    if (state && states.get(key) === state) return Object.assign(state, fresh);
    // A concurrent first sync of the key already made its state: keep its pending points and
    // the newer of the two counts.
    const existing = states.get(key);
    if (existing && existing !== state && existing.resetAt > now) {
      existing.consumed = Math.max(existing.consumed, fresh.consumed);
      existing.allowance = Math.min(existing.allowance, fresh.allowance);
      return { ...existing, consumed: fresh.consumed, pending: 0 };
    }
    const created: KeyState = { ...fresh, syncing: undefined };
    if (states.size < MAX_TRACKED_KEYS) states.set(key, created);
    return created;
  }

  /** Marks `state` as syncing until `flight` settles; waiters never see its error. */
  function track(state: KeyState, flight: Promise<unknown>) {
    const done = () => {
      if (state.syncing === settled) state.syncing = undefined;
    };
    const settled: Promise<void> = flight.then(done, done);
    state.syncing = settled;
  }

  /** Sends the pending points that are due (all of them with `everything`). */
  function flush(everything: boolean): Promise<void> {
    timer = undefined;
    const now = Date.now();
    const flights: Promise<void>[] = [];
    let waiting = false;
    for (const [key, state] of states) {
      if (state.syncing) continue;
      if (state.pending === 0) {
        if (now >= state.resetAt) states.delete(key);
        continue;
      }
      const due =
        everything ||
        state.pending * 2 >= state.allowance ||
        now - state.syncedAt >= options.maxSyncAgeMs ||
        state.resetAt - now <= 2 * options.scanIntervalMs;
      if (!due) {
        waiting = true;
        continue;
      }
      const flight = sync(key, state, 0).then(
        () => undefined,
        (error: unknown) => {
          // The batch is lost; the next request for the key syncs and meets the outage.
          if (states.get(key) === state) states.delete(key);
          options.onFlushError(error);
        },
      );
      track(state, flight);
      flights.push(flight);
    }
    if (waiting && !everything) scheduleFlush();
    return Promise.all(flights).then(() => undefined);
  }

  function scheduleFlush() {
    if (timer) return;
    timer = setTimeout(() => void flush(false), options.scanIntervalMs);
    timer.unref();
  }

  return {
    points,
    async consume(key) {
      for (;;) {
        const now = Date.now();
        const state = states.get(key);
        if (state && now < state.resetAt) {
          if (state.consumed + state.pending >= points)
            throw new LimitExceeded(outcomeOf(state, now));
          if (state.pending < state.allowance) {
            state.pending += 1;
            scheduleFlush();
            return outcomeOf(state, now);
          }
          if (state.syncing) {
            // Another request is already syncing this key: decide on its answer.
            await state.syncing.catch(() => undefined);
            continue;
          }
        }
        // No usable state (new key, ended window, allowance used): ask the store. What was
        // pending for an ended window belonged to it and is dropped.
        const current = state && now < state.resetAt ? state : undefined;
        if (state && !current) states.delete(key);
        const flight = sync(key, current, 1);
        if (current) track(current, flight);
        const synced = await flight;
        const outcome = outcomeOf(synced, Date.now());
        if (synced.consumed > points) throw new LimitExceeded(outcome);
        return outcome;
      }
    },
    async close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await flush(true);
      states.clear();
    },
  };
}
