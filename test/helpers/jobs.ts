import type { Queue } from "bullmq";
import type { FastifyBaseLogger } from "fastify";
import { Redis } from "ioredis";
import type { Database } from "../../src/core/database/index.js";
import { bullmqTransport } from "../../src/core/jobs/bullmq-transport.js";
import {
  type AnyJob,
  createJobs,
  JobRegistry,
  type Jobs,
  queuePrefix,
} from "../../src/core/jobs/index.js";
import { createJobWorker, type JobWorker } from "../../src/core/jobs/worker.js";
import { isolatedRedisKeyPrefix, TEST_REDIS_URL } from "./app.js";

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns a truthy value (which is returned) or the deadline passes
 * (then fails with `what`). Keeps tests bounded without fixed long sleeps.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * A BullMQ queue of its own (a random key prefix on the shared Redis) with the given job
 * definitions: the enqueuing side, any number of workers, and a close() that removes them all
 * and every key they wrote.
 */
export interface QueueHarness {
  readonly keyPrefix: string;
  readonly registry: JobRegistry;
  readonly transport: ReturnType<typeof bullmqTransport>;
  readonly queue: Queue;
  readonly jobs: Jobs;
  /** A new Redis connection closed with the harness (workers need one each). */
  connection(): Redis;
  startWorker(options?: { concurrency?: number }): JobWorker;
  /** Another transport on the same queue (a second API process, a second relay). */
  secondTransport(): ReturnType<typeof bullmqTransport>;
  close(): Promise<void>;
}

export function createQueueHarness(options: {
  definitions: readonly AnyJob[];
  database: Database;
  logger: FastifyBaseLogger;
  keyPrefix?: string;
}): QueueHarness {
  const keyPrefix = options.keyPrefix ?? isolatedRedisKeyPrefix();
  const registry = new JobRegistry(options.definitions);
  const connections: Redis[] = [];
  const workers: JobWorker[] = [];
  const transports: ReturnType<typeof bullmqTransport>[] = [];

  const connection = () => {
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    redis.on("error", () => {});
    connections.push(redis);
    return redis;
  };
  const secondTransport = () => {
    const transport = bullmqTransport({ connection: connection(), keyPrefix, registry });
    transports.push(transport);
    return transport;
  };
  const transport = secondTransport();
  const jobs = createJobs({ registry, transport });

  return {
    keyPrefix,
    registry,
    transport,
    queue: transport.queue,
    jobs,
    connection,
    secondTransport,
    startWorker({ concurrency = 1 } = {}) {
      const worker = createJobWorker({
        registry,
        connection: connection(),
        keyPrefix,
        concurrency,
        database: options.database,
        logger: options.logger,
      });
      workers.push(worker);
      return worker;
    },
    async close() {
      // Force: a test may leave a job running; nothing is waited for.
      await Promise.allSettled(workers.map((worker) => worker.worker.close(true)));
      for (const scheduler of await transport.queue.getJobSchedulers().catch(() => [])) {
        if (scheduler.key) await transport.queue.removeJobScheduler(scheduler.key).catch(() => {});
      }
      await transport.queue.obliterate({ force: true }).catch(() => {});
      await Promise.allSettled(transports.map((each) => each.close()));
      // Whatever obliterate left (events stream, meta, schedulers) goes too.
      const redis = connection();
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(
          cursor,
          "MATCH",
          `${queuePrefix(keyPrefix)}*`,
          "COUNT",
          500,
        );
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== "0");
      await Promise.allSettled(connections.map((each) => each.quit()));
    },
  };
}
