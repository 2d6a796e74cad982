import type { Redis } from "ioredis";

/**
 * Where cached bytes live: Redis, or this process's memory for the embedded default. Both
 * implement the same operations with the same semantics, and one test suite runs on both.
 */
export interface CacheStore {
  readonly kind: "redis" | "memory";
  /**
   * Reads the version counter at `versionKey`, then the value at
   * `${valuePrefix}${version}:${valueKey}`, in one round trip.
   */
  getVersioned(
    versionKey: string,
    valuePrefix: string,
    valueKey: string,
  ): Promise<{ version: string; value: Buffer | undefined }>;
  set(key: string, value: Buffer, ttlSeconds: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Increments a counter (creating it at 1), and makes it expire `ttlSeconds` from now. */
  increment(key: string, ttlSeconds: number): Promise<number>;
  close(): Promise<void>;
}

const GET_VERSIONED = `
local version = redis.call('GET', KEYS[1]) or '0'
return { version, redis.call('GET', ARGV[1] .. version .. ':' .. ARGV[2]) }
`;

type VersionedRedis = Redis & {
  cacheGetVersioned(
    versionKey: string,
    prefix: string,
    key: string,
  ): Promise<[string, Buffer | null]>;
};

export function redisCacheStore(redis: Redis): CacheStore {
  if (!("cacheGetVersioned" in redis)) {
    redis.defineCommand("cacheGetVersioned", { numberOfKeys: 1, lua: GET_VERSIONED });
  }
  const client = redis as unknown as VersionedRedis & {
    cacheGetVersionedBuffer: VersionedRedis["cacheGetVersioned"];
  };
  return {
    kind: "redis",
    async getVersioned(versionKey, valuePrefix, valueKey) {
      const [version, value] = await client.cacheGetVersionedBuffer(
        versionKey,
        valuePrefix,
        valueKey,
      );
      return { version: version.toString(), value: value ?? undefined };
    },
    async set(key, value, ttlSeconds) {
      await redis.set(key, value, "EX", ttlSeconds);
    },
    async delete(key) {
      await redis.del(key);
    },
    async increment(key, ttlSeconds) {
      const results = await redis.multi().incr(key).expire(key, ttlSeconds).exec();
      const [error, value] = results?.[0] ?? [new Error("INCR returned nothing")];
      if (error) throw error;
      return Number(value);
    },
    // The connection is shared and closed by its owner.
    close: async () => {},
  };
}

interface MemoryEntry {
  value: Buffer | number;
  expiresAt: number;
}

/** An in-process store for development without Redis. Bounded: the oldest entries go first. */
export function memoryCacheStore(
  options: { maxEntries?: number; now?: () => number } = {},
): CacheStore {
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, MemoryEntry>();

  const read = (key: string): MemoryEntry | undefined => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  const write = (key: string, entry: MemoryEntry) => {
    entries.delete(key);
    entries.set(key, entry);
    if (entries.size > maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
  };

  return {
    kind: "memory",
    async getVersioned(versionKey, valuePrefix, valueKey) {
      const version = String(read(versionKey)?.value ?? 0);
      const value = read(`${valuePrefix}${version}:${valueKey}`)?.value;
      return { version, value: Buffer.isBuffer(value) ? value : undefined };
    },
    async set(key, value, ttlSeconds) {
      write(key, { value, expiresAt: now() + ttlSeconds * 1000 });
    },
    async delete(key) {
      entries.delete(key);
    },
    async increment(key, ttlSeconds) {
      const current = read(key)?.value;
      const next = (typeof current === "number" ? current : 0) + 1;
      write(key, { value: next, expiresAt: now() + ttlSeconds * 1000 });
      return next;
    },
    close: async () => {
      entries.clear();
    },
  };
}
