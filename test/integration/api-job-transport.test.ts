import { Queue } from "bullmq";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createApp } from "../../src/app.js";
import { defineJob, QUEUE_NAME, queuePrefix } from "../../src/core/jobs/index.js";
import { isolatedRedisKeyPrefix, TEST_REDIS_URL, testConfig } from "../helpers/app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

/**
 * The API on Redis publishes to BullMQ only for jobs enqueued outside a transaction, and opens
 * the queue (loading BullMQ) at the first such job: until then it holds no queue, and it closes
 * either way. test/unit/lazy-imports.test.ts checks that the application loads no BullMQ.
 */

const ping = defineJob({
  name: "ping-from-the-api",
  schema: z.object({ n: z.number() }),
  attempts: 1,
  async handler() {},
});

let testDatabase: TestDatabase;
const apps: FastifyInstance[] = [];
const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true });

async function apiOnRedis(keyPrefix: string): Promise<FastifyInstance> {
  const app = await createApp(
    testConfig({
      DATABASE_URL: testDatabase.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keyPrefix,
    }),
    { modules: [], jobs: [ping] },
  );
  apps.push(app);
  return app;
}

const queueKeys = (keyPrefix: string) => redis.keys(`${queuePrefix(keyPrefix)}:*`);

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  await redis.connect();
});
afterAll(async () => {
  await Promise.allSettled(apps.map((app) => app.close()));
  redis.disconnect();
  await testDatabase?.drop();
});

describe("the API's job transport on Redis", () => {
  it("opens the queue at the first job published outside a transaction, and the job is on it", async () => {
    const keyPrefix = isolatedRedisKeyPrefix();
    const app = await apiOnRedis(keyPrefix);
    expect(app.jobs.transport.kind).toBe("bullmq");
    // Nothing published yet: BullMQ has written nothing under the queue's prefix.
    expect(await queueKeys(keyPrefix)).toEqual([]);

    const jobId = await app.jobs.enqueue(ping, { n: 7 }, { jobId: "first-ping" });
    const second = await app.jobs.enqueue(ping, { n: 8 });

    const queue = new Queue(QUEUE_NAME, {
      connection: redis.duplicate(),
      prefix: queuePrefix(keyPrefix),
    });
    try {
      expect((await queue.getJob(jobId))?.data.payload).toEqual({ n: 7 });
      expect((await queue.getJob(second))?.data.payload).toEqual({ n: 8 });
      expect(await queue.getWaitingCount()).toBe(2);
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
      await queue.disconnect();
    }
  });

  it("closes without ever having opened the queue", async () => {
    const keyPrefix = isolatedRedisKeyPrefix();
    const app = await apiOnRedis(keyPrefix);
    await app.close();
    expect(await queueKeys(keyPrefix)).toEqual([]);
  });
});
