import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { RateLimiterRedis } from "rate-limiter-flexible";
import { afterEach, describe, expect, it } from "vitest";
import {
  type BatchedLimiter,
  createBatchedLimiter,
  LimitExceeded,
} from "../../src/core/rate-limit/batched-limiter.js";
import { TEST_REDIS_URL } from "../helpers/app.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function connect(url = TEST_REDIS_URL): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  cleanups.push(async () => redis.disconnect());
  return redis;
}

interface Harness {
  limiter: BatchedLimiter;
  store: RateLimiterRedis;
  /** How many times the limiter went to Redis. */
  storeCalls(): number;
  flushErrors: unknown[];
  redis: Redis;
}

/** One process's limiter over a real Redis store; `prefix` shares the counts between harnesses. */
async function harness(points: number, prefix: string, durationSeconds = 60): Promise<Harness> {
  const redis = connect();
  await redis.connect();
  const store = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: prefix,
    points,
    duration: durationSeconds,
    rejectIfRedisNotReady: true,
  });
  let calls = 0;
  const penalty = store.penalty.bind(store);
  store.penalty = (key, count, options) => {
    calls += 1;
    return penalty(key, count, options);
  };
  const flushErrors: unknown[] = [];
  const limiter = createBatchedLimiter(store, {
    scanIntervalMs: 20,
    maxSyncAgeMs: 60,
    onFlushError: (error) => flushErrors.push(error),
  });
  cleanups.push(() => limiter.close());
  return { limiter, store, storeCalls: () => calls, flushErrors, redis };
}

/** Consumes `count` points, `concurrency` at a time; returns how many were granted. */
async function consumeMany(limiter: BatchedLimiter, key: string, count: number, concurrency = 25) {
  let granted = 0;
  let refused = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        try {
          await limiter.consume(key);
          granted += 1;
        } catch (error) {
          if (!(error instanceof LimitExceeded)) throw error;
          refused += 1;
        }
      }
    }),
  );
  return { granted, refused };
}

describe("batched limiter", () => {
  it("asks Redis on every request while fewer than ten points are left", async () => {
    const h = await harness(5, `test:${randomUUID()}:`);
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) remaining.push((await h.limiter.consume("k")).remaining);
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    expect(h.storeCalls()).toBe(5);
    // The refusal needs no sixth call: the last answer said the window is used up.
    await expect(h.limiter.consume("k")).rejects.toBeInstanceOf(LimitExceeded);
    expect(h.storeCalls()).toBe(5);
  });

  it("sends a busy key's counts in batches and loses none", async () => {
    const h = await harness(1_000_000, `test:${randomUUID()}:`);
    const { granted } = await consumeMany(h.limiter, "busy", 2_000);
    expect(granted).toBe(2_000);
    expect(h.storeCalls()).toBeLessThan(100);
    await h.limiter.close();
    expect((await h.store.get("busy"))?.consumedPoints).toBe(2_000);
  });

  it("sends a key's pending points within maxSyncAgeMs even when few", async () => {
    const h = await harness(1_000_000, `test:${randomUUID()}:`);
    await h.limiter.consume("slow");
    await h.limiter.consume("slow");
    await h.limiter.consume("slow");
    expect(h.storeCalls()).toBe(1);
    expect((await h.store.get("slow"))?.consumedPoints).toBe(1);
    await sleep(150);
    expect(h.storeCalls()).toBe(2);
    expect((await h.store.get("slow"))?.consumedPoints).toBe(3);
  });

  it("reports the remaining points, counting what is not yet sent", async () => {
    const h = await harness(1_000, `test:${randomUUID()}:`);
    const outcomes = [];
    for (let i = 0; i < 20; i++) outcomes.push(await h.limiter.consume("k"));
    expect(outcomes.map((outcome) => outcome.remaining)).toEqual(
      Array.from({ length: 20 }, (_, i) => 999 - i),
    );
    expect(outcomes.every((outcome) => outcome.limit === 1_000)).toBe(true);
    expect(outcomes.at(-1)?.msBeforeReset).toBeGreaterThan(55_000);
  });

  it("holds the limit across processes sharing Redis", async () => {
    const prefix = `test:${randomUUID()}:`;
    const processes = await Promise.all([1, 2, 3, 4].map(() => harness(300, prefix)));
    const results = await Promise.all(
      processes.map((h) => consumeMany(h.limiter, "shared", 250, 10)),
    );
    const granted = results.reduce((sum, result) => sum + result.granted, 0);
    expect(granted).toBeLessThanOrEqual(300);
    expect(granted).toBeGreaterThanOrEqual(290);
  });

  it("refuses locally once the limit is used, without asking Redis again", async () => {
    const h = await harness(3, `test:${randomUUID()}:`);
    await consumeMany(h.limiter, "k", 4, 1);
    const calls = h.storeCalls();
    const refusal = await h.limiter.consume("k").catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(LimitExceeded);
    expect((refusal as LimitExceeded).outcome.remaining).toBe(0);
    expect((refusal as LimitExceeded).outcome.msBeforeReset).toBeGreaterThan(0);
    expect(h.storeCalls()).toBe(calls);
  });

  it("grants again when the window ends", async () => {
    const h = await harness(2, `test:${randomUUID()}:`, 1);
    await consumeMany(h.limiter, "k", 3, 1);
    await expect(h.limiter.consume("k")).rejects.toBeInstanceOf(LimitExceeded);
    await sleep(1_100);
    expect((await h.limiter.consume("k")).remaining).toBe(1);
  });

  it("throws the store's error when Redis is unreachable", async () => {
    const redis = connect("redis://127.0.0.1:1");
    const store = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: "unreachable",
      points: 10,
      duration: 60,
      rejectIfRedisNotReady: true,
    });
    const limiter = createBatchedLimiter(store, {
      scanIntervalMs: 20,
      maxSyncAgeMs: 60,
      onFlushError: () => {},
    });
    cleanups.push(() => limiter.close());
    const error = await limiter.consume("k").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(LimitExceeded);
  });

  it("reports a failed background flush and asks Redis again on the next request", async () => {
    const h = await harness(1_000, `test:${randomUUID()}:`);
    await h.limiter.consume("k");
    await h.limiter.consume("k");
    h.redis.disconnect();
    await sleep(150);
    expect(h.flushErrors).toHaveLength(1);
    await expect(h.limiter.consume("k")).rejects.not.toBeInstanceOf(LimitExceeded);
  });
});
