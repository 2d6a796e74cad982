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
  returnErrors: unknown[];
  redis: Redis;
}

/** One process's limiter over a real Redis store; `prefix` shares the counts between harnesses. */
async function harness(
  points: number,
  prefix: string,
  durationSeconds = 60,
  idleReturnMs = 60,
): Promise<Harness> {
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
  const returnErrors: unknown[] = [];
  const limiter = createBatchedLimiter(store, {
    idleReturnMs,
    onReturnError: (error) => returnErrors.push(error),
  });
  cleanups.push(() => limiter.close());
  return { limiter, store, storeCalls: () => calls, returnErrors, redis };
}

async function waitForValue(probe: () => boolean | Promise<boolean>, timeoutMs = 2_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await sleep(10);
  }
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

  it("takes a busy key's points from reservations, and counts every one", async () => {
    const h = await harness(1_000_000, `test:${randomUUID()}:`);
    const { granted } = await consumeMany(h.limiter, "busy", 2_000);
    expect(granted).toBe(2_000);
    expect(h.storeCalls()).toBeLessThan(100);
    await h.limiter.close();
    expect((await h.store.get("busy"))?.consumedPoints).toBe(2_000);
  });

  it("reserves points in Redis and gives back what an idle key did not use", async () => {
    const h = await harness(1_000, `test:${randomUUID()}:`);
    for (let i = 0; i < 3; i++) await h.limiter.consume("slow");
    // The second request reserved a tenth of what was left: counted in Redis at once.
    expect(h.storeCalls()).toBe(2);
    expect((await h.store.get("slow"))?.consumedPoints).toBe(2 + 99);
    await waitForValue(async () => (await h.store.get("slow"))?.consumedPoints === 3);
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

  it("grants from the reservation without waiting, and leaves to consume what needs Redis", async () => {
    const h = await harness(1_000, `test:${randomUUID()}:`);
    // Nothing reserved yet, then a first answer that reserves nothing: only Redis can decide.
    expect(h.limiter.take("k")).toBeUndefined();
    await h.limiter.consume("k");
    expect(h.limiter.take("k")).toBeUndefined();
    // The second request reserves 99 points, which take hands out in order, with no call.
    expect((await h.limiter.consume("k")).remaining).toBe(998);
    const taken = Array.from({ length: 99 }, () => h.limiter.take("k")?.remaining);
    expect(taken).toEqual(Array.from({ length: 99 }, (_, i) => 997 - i));
    expect(h.limiter.take("k")).toBeUndefined();
    expect(h.storeCalls()).toBe(2);
    // What was taken was counted in Redis with the reservation.
    expect((await h.store.get("k"))?.consumedPoints).toBe(101);
  });

  it("takes nothing from a window that has ended", async () => {
    // Reservations are not given back within the test: only the window's end stops take.
    const h = await harness(1_000, `test:${randomUUID()}:`, 1, 60_000);
    await h.limiter.consume("k");
    await h.limiter.consume("k");
    expect(h.limiter.take("k")).toBeDefined();
    await sleep(1_100);
    expect(h.limiter.take("k")).toBeUndefined();
  });
  it("starts a busy key's next window with a reservation, asking Redis once", async () => {
    const h = await harness(1_000, `test:${randomUUID()}:`, 1, 60_000);
    await consumeMany(h.limiter, "busy", 30, 1);
    const calls = h.storeCalls();
    await sleep(1_100);
    // The window ended: its first request reserves what the last window granted here (30,
    // less its own point), within a tenth of the limit.
    expect((await h.limiter.consume("busy")).remaining).toBe(999);
    expect(h.limiter.take("busy")?.remaining).toBe(998);
    expect(h.storeCalls()).toBe(calls + 1);
    expect((await h.store.get("busy"))?.consumedPoints).toBe(1 + 29);
  });

  it("reserves no more at a window's start than the last window used, across processes", async () => {
    const prefix = `test:${randomUUID()}:`;
    const busy = await Promise.all(
      Array.from({ length: 10 }, () => harness(300, prefix, 1, 60_000)),
    );
    for (const h of busy) await consumeMany(h.limiter, "k", 3, 1);
    await sleep(1_100);
    // Ten processes start the next window: each reserves 2, not a tenth of the limit (29).
    for (const h of busy) await h.limiter.consume("k");
    const late = await harness(300, prefix, 1, 60_000);
    expect((await late.limiter.consume("k")).remaining).toBeGreaterThan(200);
    expect((await late.store.get("k"))?.consumedPoints).toBe(10 * 3 + 1);
  });

  it("fails the requests waiting on a key's Redis call with its error, asking once", async () => {
    const h = await harness(1_000, `test:${randomUUID()}:`);
    await h.limiter.consume("k");
    let calls = 0;
    h.store.penalty = () => {
      calls += 1;
      return new Promise((_, reject) => setTimeout(() => reject(new Error("redis down")), 50));
    };
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, () => h.limiter.consume("k")),
    );
    expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(5).fill("rejected"));
    for (const outcome of outcomes) {
      expect((outcome as PromiseRejectedResult).reason).not.toBeInstanceOf(LimitExceeded);
    }
    expect(calls).toBe(1);
  });

  it("reserves nothing for a key granted once in its last window", async () => {
    const h = await harness(1_000, `test:${randomUUID()}:`, 1, 60_000);
    await h.limiter.consume("once");
    await sleep(1_100);
    await h.limiter.consume("once");
    expect(h.limiter.take("once")).toBeUndefined();
    expect((await h.store.get("once"))?.consumedPoints).toBe(1);
  });

  it("asks Redis once for the requests in flight when a busy key's window ends", async () => {
    const h = await harness(1_000_000, `test:${randomUUID()}:`, 1, 60_000);
    await consumeMany(h.limiter, "busy", 100, 25);
    const before = h.storeCalls();
    await sleep(1_100);
    const { granted } = await consumeMany(h.limiter, "busy", 25, 25);
    expect(granted).toBe(25);
    expect(h.storeCalls()).toBe(before + 1);
  });

  it("gives back what does not fit when others used the window a busy key starts", async () => {
    const h = await harness(100, `test:${randomUUID()}:`, 1, 60_000);
    await consumeMany(h.limiter, "k", 30, 1);
    await sleep(1_100);
    // Other processes take 95 of the new window's 100 points before this one's first request.
    await h.store.penalty("k", 95);
    // It reserves 9 points for a busy key: 4 fit beside its own, the other 5 go back.
    expect((await h.limiter.consume("k")).remaining).toBe(4);
    const { granted } = await consumeMany(h.limiter, "k", 10, 1);
    expect(granted).toBe(4);
    await h.limiter.close();
    expect((await h.store.get("k"))?.consumedPoints).toBe(100);
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
    const limiter = createBatchedLimiter(store, { idleReturnMs: 60, onReturnError: () => {} });
    cleanups.push(() => limiter.close());
    const error = await limiter.consume("k").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(LimitExceeded);
  });

  it("reports a reservation it could not give back, and asks Redis again on the next request", async () => {
    const h = await harness(1_000, `test:${randomUUID()}:`);
    await h.limiter.consume("k");
    await h.limiter.consume("k");
    h.redis.disconnect();
    await waitForValue(() => h.returnErrors.length === 1);
    await expect(h.limiter.consume("k")).rejects.not.toBeInstanceOf(LimitExceeded);
  });

  it("lets other processes have the points an idle process gave back", async () => {
    const prefix = `test:${randomUUID()}:`;
    const a = await harness(20, prefix);
    const b = await harness(20, prefix);
    // a asks twice, reserving a tenth of what is left, and then goes idle.
    await a.limiter.consume("k");
    await a.limiter.consume("k");
    const { granted } = await consumeMany(b.limiter, "k", 30, 1);
    await waitForValue(async () => (await a.store.get("k"))?.consumedPoints === 2 + granted);
    await sleep(100);
    const more = await consumeMany(b.limiter, "k", 30, 1);
    expect(2 + granted + more.granted).toBe(20);
  });
});
