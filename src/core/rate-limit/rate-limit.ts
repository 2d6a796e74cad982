import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from "fastify";
import type { Redis } from "ioredis";
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from "rate-limiter-flexible";
import type { TenantPlan } from "../database/index.js";
import { AppError } from "../errors/index.js";
import { countRateLimitRefusal } from "../observability/kit-metrics.js";
import { createBatchedLimiter, LimitExceeded, type LimitOutcome } from "./batched-limiter.js";

/**
 * Rate limits, from three sources, all counted in a shared store (Redis, or memory for the
 * embedded default) so they hold across processes:
 *  - per client IP on every route (RATE_LIMIT_IP a minute);
 *  - per tenant on tenant routes, by the tenant's plan (RATE_LIMIT_FREE / _PRO / _ENTERPRISE);
 *  - per route, declared in the route's `config.rateLimit` (login and password routes): these
 *    are part of the security policy and apply even when RATE_LIMIT_ENABLED=false.
 * Responses carry the headers of the tightest limit that applied; a refusal is a 429 problem
 * with Retry-After. Each process reserves points of the general limits in advance
 * (batched-limiter.ts), so that most requests are decided in the process without waiting on the
 * store: in Redis a round trip, and in memory still a promise per limit and request. Per-route
 * limits count every request.
 */

interface RouteRateLimit {
  /** Requests allowed per `durationSeconds`. */
  readonly points: number;
  readonly durationSeconds: number;
  /** What is counted: the client IP (default), or the signed-in user. */
  readonly by?: "ip" | "user";
  /**
   * When the store is unreachable: refuse (true, for routes attackers target) or allow
   * (false). Default: RATE_LIMIT_FAIL_OPEN's opposite for general limits.
   */
  readonly failClosed?: boolean;
}

declare module "fastify" {
  interface FastifyContextConfig {
    rateLimit?: RouteRateLimit;
  }
  interface FastifyRequest {
    /** The tightest limit seen so far, whose headers the answer carries. */
    [tightestLimit]: LimitOutcome | null;
  }
}

const tightestLimit = Symbol("tightestLimit");

interface RateLimitSettings {
  readonly enabled: boolean;
  readonly perIp: number;
  readonly perTenant: Readonly<Record<TenantPlan, number>>;
  /** General limits let requests through when the store is down (true) or refuse them. */
  readonly failOpen: boolean;
}

export interface RateLimitOptions {
  settings: RateLimitSettings;
  redis: Redis | undefined;
  keyPrefix: string;
  /** The plan of the request's tenant: at once when the caller holds it in memory. */
  planOf(request: FastifyRequest): TenantPlan | Promise<TenantPlan>;
}

const WINDOW_SECONDS = 60;
/** Unused reservations of the batched general limits go back to Redis after this idle time. */
const IDLE_RETURN_MS = 5_000;

/** One limit's counter. */
interface Counter {
  readonly points: number;
  /** The outcome when this process can decide alone (a reserved point), else undefined. */
  take(key: string): LimitOutcome | undefined;
  /** Resolves with the outcome; throws LimitExceeded, or the store's error. */
  consume(key: string): Promise<LimitOutcome>;
}

interface Limit {
  /** ip, tenant:<plan> or route:<method>:<url>: the label of its refusals' metric. */
  name: string;
  counter: Counter;
  key: string;
  failClosed: boolean;
}

/** Counts every request in the store (the per-route limits). */
function exactCounter(limiter: RateLimiterAbstract): Counter {
  const outcome = (result: RateLimiterRes): LimitOutcome => ({
    limit: limiter.points,
    remaining: result.remainingPoints,
    msBeforeReset: result.msBeforeNext,
  });
  return {
    points: limiter.points,
    take: () => undefined,
    consume: (key) =>
      limiter.consume(key).then(outcome, (rejection: unknown) => {
        throw rejection instanceof RateLimiterRes
          ? new LimitExceeded(outcome(rejection))
          : rejection;
      }),
  };
}

function setHeaders(reply: FastifyReply, outcome: LimitOutcome, resetSeconds: number): void {
  const limit = String(outcome.limit);
  const remaining = String(outcome.remaining);
  const reset = String(resetSeconds);
  reply
    .header("ratelimit-limit", limit)
    .header("ratelimit-remaining", remaining)
    .header("ratelimit-reset", reset)
    .header("x-ratelimit-limit", limit)
    .header("x-ratelimit-remaining", remaining)
    .header("x-ratelimit-reset", reset);
}

/** Makes a counter of `points` per `durationSeconds` under `name`, in the shared store. */
export type LimiterFactory = (
  name: string,
  points: number,
  durationSeconds: number,
) => RateLimiterAbstract;

/**
 * Limiters in Redis (keys `<prefix>rl:<name>:<key>`), or in this process without Redis. Also
 * for modules with counting needs of their own (failed sign-ins).
 */
export function createLimiterFactory(redis: Redis | undefined, keyPrefix: string): LimiterFactory {
  return (name, points, durationSeconds) =>
    redis
      ? new RateLimiterRedis({
          storeClient: redis,
          keyPrefix: `${keyPrefix}rl:${name}`,
          points,
          duration: durationSeconds,
          // Fail fast during an outage instead of queueing behind reconnects.
          rejectIfRedisNotReady: true,
        })
      : new RateLimiterMemory({ keyPrefix: name, points, duration: durationSeconds });
}

export interface RateLimiting {
  /** onRequest hook to run before authentication: per-IP limits (general and per-route). */
  beforeAuthentication: onRequestHookHandler;
  /** onRequest hook to run after authentication: per-tenant and per-user limits. */
  afterAuthentication: onRequestHookHandler;
}

type Done = (error?: Error) => void;

/**
 * Registers the limiters of every route declaring `config.rateLimit` (through an onRoute hook,
 * so call it before routes are added) and returns the two request hooks. They are separate so
 * that floods of bad tokens are limited per IP before any token is verified.
 */
export function createRateLimiting(app: FastifyInstance, options: RateLimitOptions): RateLimiting {
  const { settings, redis } = options;
  const create = createLimiterFactory(redis, options.keyPrefix);

  const batched: { close(): Promise<void> }[] = [];
  const general = (name: string, points: number): Counter => {
    const store = create(name, points, WINDOW_SECONDS);
    const counter = createBatchedLimiter(store, {
      idleReturnMs: IDLE_RETURN_MS,
      onReturnError: (error) =>
        app.log.warn({ err: error }, "rate limiter could not give back reserved points"),
    });
    batched.push(counter);
    return counter;
  };
  app.addHook("onClose", async () => {
    await Promise.all(batched.map((counter) => counter.close()));
  });

  const perIp = general("ip", settings.perIp);
  const planCounter = (plan: TenantPlan) => {
    const name = `tenant:${plan}`;
    return { name, counter: general(name, settings.perTenant[plan]) };
  };
  const perPlan = {
    free: planCounter("free"),
    pro: planCounter("pro"),
    enterprise: planCounter("enterprise"),
  } satisfies Record<TenantPlan, { name: string; counter: Counter }>;
  const perRoute = new Map<string, Counter>();
  const routeName = (method: string | string[], url: string) =>
    `route:${[method].flat().join(",")}:${url}`;

  app.addHook("onRoute", (route) => {
    const declared = route.config?.rateLimit;
    if (!declared || !route.url) return;
    const name = routeName(route.method, route.url);
    perRoute.set(name, exactCounter(create(name, declared.points, declared.durationSeconds)));
  });

  // The tightest outcome is a field of every request rather than a WeakMap entry keyed by it,
  // which the collector would process as an ephemeron on every collection.
  app.decorateRequest(tightestLimit, null);

  /** The request passed a limit: its headers go out if it is the tightest so far. */
  function passed(request: FastifyRequest, reply: FastifyReply, outcome: LimitOutcome) {
    const current = request[tightestLimit];
    if (!current || outcome.remaining < current.remaining) {
      request[tightestLimit] = outcome;
      setHeaders(reply, outcome, Math.ceil(outcome.msBeforeReset / 1000));
    }
  }

  /** Counts the request against one limit in the store: passes, or throws the refusal. */
  async function consume(request: FastifyRequest, reply: FastifyReply, limit: Limit) {
    let outcome: LimitOutcome;
    try {
      outcome = await limit.counter.consume(limit.key);
    } catch (error) {
      if (error instanceof LimitExceeded) {
        countRateLimitRefusal(limit.name);
        const retryAfter = Math.max(1, Math.ceil(error.outcome.msBeforeReset / 1000));
        setHeaders(reply, { ...error.outcome, remaining: 0 }, retryAfter);
        throw new AppError("rate-limited", "Too many requests; retry after the delay given.", {
          headers: { "retry-after": String(retryAfter) },
        });
      }
      // The store is unreachable.
      request.log.warn({ err: error }, "rate limiter unavailable");
      if (limit.failClosed) {
        throw new AppError(
          "service-unavailable",
          "This request cannot be rate-limited right now; retry shortly.",
          { headers: { "retry-after": "5" } },
        );
      }
      return;
    }
    passed(request, reply, outcome);
  }

  /**
   * Counts the request against `first`, then `second` (either may be absent), then calls
   * `done`. It stays synchronous while the process decides alone, as it does for nearly every
   * request under the batched limits: a hook's promise costs each request microtask turns.
   */
  function enforce(
    request: FastifyRequest,
    reply: FastifyReply,
    first: Limit | undefined,
    second: Limit | undefined,
    done: Done,
  ): void {
    if (first) {
      const outcome = first.counter.take(first.key);
      if (!outcome) {
        consume(request, reply, first).then(
          () => enforce(request, reply, second, undefined, done),
          done,
        );
        return;
      }
      passed(request, reply, outcome);
    }
    if (second) enforce(request, reply, second, undefined, done);
    else done();
  }

  /** The route's own limit counted by `by`, if it declares one (login and password routes). */
  const declaredLimit = (request: FastifyRequest, by: "ip" | "user"): Limit | undefined => {
    const declared = request.routeOptions.config.rateLimit;
    if (!declared || (declared.by ?? "ip") !== by || !request.routeOptions.url) return undefined;
    const name = routeName(request.routeOptions.method, request.routeOptions.url);
    const counter = perRoute.get(name);
    const key = by === "user" ? request.principal?.userId : request.ip;
    return counter && key
      ? { name, counter, key, failClosed: declared.failClosed ?? true }
      : undefined;
  };

  const generalFailClosed = !settings.failOpen;
  const planLimit = (plan: TenantPlan, tenantId: string): Limit => ({
    name: perPlan[plan].name,
    counter: perPlan[plan].counter,
    key: tenantId,
    failClosed: generalFailClosed,
  });
  // General limits first, then the route's own.
  return {
    beforeAuthentication(request, reply, done) {
      if (request.is404) return done();
      const perIpLimit: Limit | undefined = settings.enabled
        ? { name: "ip", counter: perIp, key: request.ip, failClosed: generalFailClosed }
        : undefined;
      enforce(request, reply, perIpLimit, declaredLimit(request, "ip"), done);
    },
    afterAuthentication(request, reply, done) {
      if (request.is404) return done();
      const tenantId = request.principal?.tenantId;
      const declared = declaredLimit(request, "user");
      // A token without a tenant is counted per IP only: it reaches no tenant's data.
      if (!settings.enabled || !tenantId) return enforce(request, reply, undefined, declared, done);
      const plan = options.planOf(request);
      if (typeof plan === "string") {
        enforce(request, reply, planLimit(plan, tenantId), declared, done);
      } else {
        plan.then(
          (known) => enforce(request, reply, planLimit(known, tenantId), declared, done),
          done,
        );
      }
    },
  };
}
