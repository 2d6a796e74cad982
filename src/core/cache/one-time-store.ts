import type { Redis } from "ioredis";

/**
 * Values that may be read once, within a time limit: OAuth sign-in state, for example. `take`
 * returns the value and removes it in one atomic step, so of two processes taking the same key
 * at once exactly one gets it. In Redis (shared by every API process, kept across restarts),
 * or in this process's memory for the embedded default.
 */
export interface OneTimeStore {
  readonly kind: "redis" | "memory";
  put(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** The value, removed; undefined if it never existed, expired or was taken already. */
  take(key: string): Promise<string | undefined>;
}

export function redisOneTimeStore(redis: Redis, prefix: string): OneTimeStore {
  return {
    kind: "redis",
    async put(key, value, ttlSeconds) {
      await redis.set(`${prefix}${key}`, value, "EX", ttlSeconds);
    },
    async take(key) {
      // GETDEL (Redis 6.2+): the read and the removal cannot interleave with another take.
      return (await redis.getdel(`${prefix}${key}`)) ?? undefined;
    },
  };
}

/** Bounded: past `maxEntries`, the oldest values go first. */
export function memoryOneTimeStore(
  options: { maxEntries?: number; now?: () => number } = {},
): OneTimeStore {
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { value: string; expiresAt: number }>();
  return {
    kind: "memory",
    async put(key, value, ttlSeconds) {
      entries.delete(key);
      entries.set(key, { value, expiresAt: now() + ttlSeconds * 1000 });
      for (const oldest of entries.keys()) {
        if (entries.size <= maxEntries) break;
        entries.delete(oldest);
      }
    },
    async take(key) {
      const entry = entries.get(key);
      entries.delete(key);
      return entry && entry.expiresAt > now() ? entry.value : undefined;
    },
  };
}
