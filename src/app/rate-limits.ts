import type { FastifyInstance } from "fastify";
import type { Config } from "../config.js";
import { createRateLimiting, type RateLimiting } from "../core/rate-limit/index.js";
import type { Infrastructure } from "../infrastructure.js";

/**
 * The general limits (per IP, per tenant by its plan) and each route's declared limit, in Redis
 * or in this process. Call it before the routes are added: it makes a limiter for each route
 * added after it that declares one. Returns the two request hooks, which go on either side of
 * authentication.
 */
export function rateLimits(
  app: FastifyInstance,
  config: Config,
  { redis, tenantLookup }: Pick<Infrastructure, "redis" | "tenantLookup">,
): RateLimiting {
  return createRateLimiting(app, {
    settings: config.rateLimit,
    redis,
    keyPrefix: config.redisKeyPrefix,
    planOf: (request) => {
      const tenant = tenantLookup(request.tenantDb);
      return tenant instanceof Promise ? tenant.then((row) => row.plan) : tenant.plan;
    },
  });
}
