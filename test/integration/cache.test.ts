import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cache, createCache } from "../../src/core/cache/cache.js";
import { type CacheStore, memoryCacheStore, redisCacheStore } from "../../src/core/cache/store.js";
import { runWithContext } from "../../src/core/logging/index.js";
import { TEST_REDIS_URL } from "../helpers/app.js";

const silent = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const backends: [string, () => { store: CacheStore; close: () => Promise<void> }][] = [
  [
    "redis",
    () => {
      const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
      return { store: redisCacheStore(redis), close: async () => void (await redis.quit()) };
    },
  ],
  ["memory", () => ({ store: memoryCacheStore(), close: async () => {} })],
];

describe.each(backends)("cache on %s", (_name, makeStore) => {
  let cache: Cache;
  let close: () => Promise<void>;
  beforeAll(() => {
    const made = makeStore();
    close = made.close;
    // A random prefix per run: nothing is shared with other tests using the same Redis.
    cache = createCache(made.store, { prefix: `test:${randomUUID()}:`, logger: silent });
  });
  afterAll(() => close());

  it("misses, loads, then hits", async () => {
    let loads = 0;
    const load = async () => ++loads;
    expect(await cache.getOrSet("k", 60, load)).toBe(1);
    expect(await cache.getOrSet("k", 60, load)).toBe(1);
    expect(loads).toBe(1);
  });

  it("keeps dates, maps, sets and nested values", async () => {
    const value = {
      at: new Date("2026-01-02T03:04:05.678Z"),
      tags: new Set(["a"]),
      m: new Map([[1, "x"]]),
    };
    await cache.set("rich", value, 60);
    const read = await cache.get<typeof value>("rich");
    expect(read?.at).toBeInstanceOf(Date);
    expect(read).toEqual(value);
  });

  it("expires entries after their TTL", async () => {
    await cache.set("short", "v", 1);
    expect(await cache.get("short")).toBe("v");
    await sleep(1_100);
    expect(await cache.get("short")).toBeUndefined();
  });

  it("deletes one key", async () => {
    await cache.set("gone", 1, 60);
    await cache.set("kept", 2, 60);
    await cache.delete("gone");
    expect(await cache.get("gone")).toBeUndefined();
    expect(await cache.get("kept")).toBe(2);
  });

  it("invalidates a whole namespace at once, and only that namespace", async () => {
    for (const key of ["a", "b", "c"]) await cache.set(key, key, 60, { namespace: "n1" });
    await cache.set("a", "other", 60, { namespace: "n2" });
    await cache.invalidateNamespace("n1");
    for (const key of ["a", "b", "c"]) {
      expect(await cache.get(key, { namespace: "n1" })).toBeUndefined();
    }
    expect(await cache.get("a", { namespace: "n2" })).toBe("other");
    await cache.set("a", "fresh", 60, { namespace: "n1" });
    expect(await cache.get("a", { namespace: "n1" })).toBe("fresh");
  });

  it("keeps tenants apart automatically, and global entries shared", async () => {
    const inTenant = <T>(tenantId: string, fn: () => Promise<T>) =>
      runWithContext({ requestId: randomUUID(), ip: "127.0.0.1", tenantId }, fn);
    await inTenant("tenant-a", () => cache.set("profile", "A", 60));
    await inTenant("tenant-b", () => cache.set("profile", "B", 60));
    expect(await inTenant("tenant-a", () => cache.get("profile"))).toBe("A");
    expect(await inTenant("tenant-b", () => cache.get("profile"))).toBe("B");
    expect(await cache.get("profile")).toBeUndefined();
    await inTenant("tenant-a", () => cache.invalidateNamespace("default"));
    expect(await inTenant("tenant-a", () => cache.get("profile"))).toBeUndefined();
    expect(await inTenant("tenant-b", () => cache.get("profile"))).toBe("B");
    await inTenant("tenant-a", () => cache.set("plan", "pro", 60, { scope: "global" }));
    expect(await inTenant("tenant-b", () => cache.get("plan", { scope: "global" }))).toBe("pro");
  });

  it("calls load once for 100 concurrent misses of one key", async () => {
    let loads = 0;
    const load = async () => {
      loads++;
      await sleep(50);
      return "value";
    };
    const results = await Promise.all(
      Array.from({ length: 100 }, () => cache.getOrSet("stampede", 60, load)),
    );
    expect(results.every((result) => result === "value")).toBe(true);
    expect(loads).toBe(1);
  });

  it("passes load errors through and caches nothing", async () => {
    await expect(
      cache.getOrSet("failing", 60, async () => {
        throw new Error("load failed");
      }),
    ).rejects.toThrow("load failed");
    expect(await cache.getOrSet("failing", 60, async () => "recovered")).toBe("recovered");
  });
});

describe("cache outage", () => {
  it("degrades to calling load when Redis is unreachable, without throwing", async () => {
    const redis = new Redis("redis://127.0.0.1:1", {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    redis.on("error", () => {});
    const cache = createCache(redisCacheStore(redis), { prefix: "test:outage:", logger: silent });
    let loads = 0;
    const load = async () => ++loads;
    expect(await cache.getOrSet("k", 60, load)).toBe(1);
    expect(await cache.getOrSet("k", 60, load)).toBe(2);
    expect(await cache.get("k")).toBeUndefined();
    await expect(cache.set("k", 1, 60)).resolves.toBeUndefined();
    await expect(cache.invalidateNamespace("default")).resolves.toBeUndefined();
    redis.disconnect();
  });
});
