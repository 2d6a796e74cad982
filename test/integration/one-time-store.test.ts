import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  memoryOneTimeStore,
  type OneTimeStore,
  redisOneTimeStore,
} from "../../src/core/cache/index.js";
import { TEST_REDIS_URL } from "../helpers/app.js";

/**
 * The one-time store (OAuth sign-in state) on both backends, with the same expectations:
 * a value is taken at most once, however many takers race for it, and not after its time.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const backends: [string, () => { stores: OneTimeStore[]; close: () => Promise<void> }][] = [
  [
    "redis",
    () => {
      // Two connections, as two API processes have: the value is shared, the take atomic.
      const prefix = `test:${randomUUID()}:one-time:`;
      const first = new Redis(TEST_REDIS_URL);
      const second = new Redis(TEST_REDIS_URL);
      return {
        stores: [redisOneTimeStore(first, prefix), redisOneTimeStore(second, prefix)],
        close: async () => {
          await Promise.all([first.quit(), second.quit()]);
        },
      };
    },
  ],
  [
    "memory",
    () => {
      const store = memoryOneTimeStore();
      return { stores: [store, store], close: async () => {} };
    },
  ],
];

describe.each(backends)("one-time store on %s", (_name, make) => {
  let stores: OneTimeStore[];
  let close: () => Promise<void>;
  beforeAll(() => {
    ({ stores, close } = make());
  });
  afterAll(() => close());

  it("gives a value once", async () => {
    const [a, b] = stores as [OneTimeStore, OneTimeStore];
    await a.put("state-1", "payload", 60);
    expect(await b.take("state-1")).toBe("payload");
    expect(await a.take("state-1")).toBeUndefined();
    expect(await b.take("never-put")).toBeUndefined();
  });

  it("gives a value to exactly one of many racing takers", async () => {
    const [a, b] = stores as [OneTimeStore, OneTimeStore];
    for (let round = 0; round < 20; round++) {
      await a.put(`race-${round}`, `value-${round}`, 60);
      const taken = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).take(`race-${round}`)),
      );
      expect(taken.filter((value) => value !== undefined)).toEqual([`value-${round}`]);
    }
  });

  it("forgets a value after its time", async () => {
    const [a] = stores as [OneTimeStore];
    await a.put("short", "payload", 1);
    await sleep(1_100);
    expect(await a.take("short")).toBeUndefined();
  });
});

describe("memory one-time store", () => {
  it("drops the oldest values beyond its bound", async () => {
    const store = memoryOneTimeStore({ maxEntries: 2 });
    await store.put("a", "1", 60);
    await store.put("b", "2", 60);
    await store.put("c", "3", 60);
    expect(await store.take("a")).toBeUndefined();
    expect(await store.take("b")).toBe("2");
    expect(await store.take("c")).toBe("3");
  });
});
