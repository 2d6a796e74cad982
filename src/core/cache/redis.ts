import type { FastifyBaseLogger } from "fastify";
import { Redis } from "ioredis";
import type { Config } from "../../config.js";

/**
 * The Redis client, or undefined when no REDIS_URL is configured. Connects at once (the rate
 * limiter refuses to wait for a connection) and reconnects with backoff; an outage is logged
 * once, when it starts, not on every retry.
 */
export function createRedis(config: Config, logger: FastifyBaseLogger): Redis | undefined {
  if (!config.redisUrl) return undefined;
  const redis = new Redis(config.redisUrl, {
    // During an outage commands fail at once instead of queueing, so the cache and the rate
    // limiter degrade immediately rather than holding requests for seconds.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1_000,
    // Commands issued in the same tick (many concurrent requests) go out in one write.
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
  });
  let down = false;
  redis.on("error", (error) => {
    if (down) return;
    down = true;
    logger.warn({ err: error }, "redis connection failed; retrying");
  });
  redis.on("ready", () => {
    if (down) logger.info("redis connection restored");
    down = false;
  });
  return redis;
}

export async function pingRedis(redis: Redis): Promise<void> {
  const answer = await redis.ping();
  if (answer !== "PONG") throw new Error(`unexpected PING answer: ${answer}`);
}

/**
 * Waits until the client is connected or has failed once, so the first requests after start-up
 * do not meet a connection still being made. An unreachable Redis does not block start-up:
 * the client keeps retrying in the background and readiness reports it.
 */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === "ready") return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off("ready", done);
      redis.off("error", done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    redis.once("ready", done);
    redis.once("error", done);
  });
}
