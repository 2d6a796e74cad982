import type { FastifyBaseLogger } from "fastify";
import { Redis } from "ioredis";
import { type Background, createBackground } from "./background.js";
import type { Config } from "./config.js";
import { type AuditLog, createAuditLog } from "./core/audit/index.js";
import {
  createSessionGuard,
  createTenantLookup,
  createTokenService,
  revocationChannel,
  type SessionGuard,
  type TenantLookup,
  type TokenService,
} from "./core/auth/index.js";
import {
  type Cache,
  createCache,
  createRedis,
  memoryCacheStore,
  memoryOneTimeStore,
  type OneTimeStore,
  pingRedis,
  redisCacheStore,
  redisOneTimeStore,
  waitForRedis,
} from "./core/cache/index.js";
import { type Database, openDatabase } from "./core/database/index.js";
import type { ModuleDependencies } from "./core/http/module.js";
import type { bullmqTransport } from "./core/jobs/bullmq-transport.js";
import {
  type AnyJob,
  createJobs,
  createOutboxRelay,
  deferredTransport,
  inProcessTransport,
  type Jobs,
  type JobTransport,
  type OutboxRelay,
} from "./core/jobs/index.js";
import { createLimiterFactory, type LimiterFactory } from "./core/rate-limit/index.js";
import {
  type Announce,
  claimEmbeddedDatabase,
  type EmbeddedDatabaseClaim,
} from "./embedded-database.js";

/**
 * The kit's composition root for everything that is not HTTP: one function builds the backing
 * services a process uses, and one `close()` closes them in order. The API (createApp), the
 * worker, the scripts and the test helpers all build through it, so a service is wired once.
 * What a process gets depends on its role:
 *
 * - every role: the database (claiming the embedded one first), Redis, the cache, the one-time
 *   store, the token service, the limiter factory, the audit log, the tenant lookup, and the
 *   readiness checks;
 * - "api" adds the background work (jobs, mailer), the job transport, the session guard, and
 *   without Redis the outbox relay (the process runs its own jobs);
 * - "worker" adds the background work, the BullMQ transport, the outbox relay and a second Redis
 *   connection for the job worker, and needs REDIS_URL.
 *
 * Nothing is started: the caller starts the relay (`relay.start()`) when it is ready to.
 */

export type ProcessRole = "api" | "worker" | "cli";

export interface InfrastructureOptions<R extends ProcessRole = ProcessRole> {
  readonly role: R;
  readonly logger: FastifyBaseLogger;
  /** Job definitions besides the kit's own (tests, modules under development). */
  readonly jobs?: readonly AnyJob[];
  /** Replaces the API's session guard (bench/ measures its cost; tests). */
  readonly sessionGuard?: SessionGuard;
  /** How the embedded database's first start is announced; the logger's info line otherwise. */
  readonly announce?: Announce;
  /** A command that does not use Redis (npm run seed) leaves it unconnected. */
  readonly withoutRedis?: boolean;
}

/** The backing services the readiness probe and the readiness gauge check. */
export type ReadinessChecks = {
  readonly database: () => Promise<void>;
  readonly redis: (() => Promise<void>) | undefined;
};

interface CloseOptions {
  /**
   * Awaited alongside the relay's stop, before anything closes: the worker's running jobs,
   * which still use the database and Redis.
   */
  readonly drain?: Promise<unknown>;
  /** How long the relay's stop waits for a pass still running (the relay's default otherwise). */
  readonly relayWaitMs?: number;
  /** Runs each closing step (the worker bounds each by its shutdown deadline). */
  readonly step?: (what: string, closing: Promise<unknown>) => Promise<unknown>;
}

export interface Infrastructure {
  readonly config: Config;
  readonly database: Database;
  /** Undefined without REDIS_URL (development), or for a command built `withoutRedis`. */
  readonly redis: Redis | undefined;
  readonly cache: Cache;
  readonly oneTime: OneTimeStore;
  readonly tokens: TokenService;
  readonly limiters: LimiterFactory;
  readonly audit: AuditLog;
  readonly tenantLookup: TenantLookup;
  readonly readinessChecks: ReadinessChecks;
  /**
   * Closes everything, each step after the one before: the relay, the job transport, the
   * mailer, the session guard, the database, the Redis connections, and last the embedded
   * database's lock. Every step runs even if one before failed (the first failure is thrown at
   * the end); a second call returns the first one's promise.
   */
  close(options?: CloseOptions): Promise<void>;
}

export interface ApiInfrastructure extends Infrastructure {
  readonly background: Background;
  readonly transport: JobTransport;
  readonly jobs: Jobs;
  /** Only without Redis: the API then relays its own outbox to the in-process transport. */
  readonly relay: OutboxRelay | undefined;
  readonly sessions: SessionGuard;
}

interface WorkerInfrastructure extends Infrastructure {
  readonly redis: Redis;
  /** For BullMQ's worker, which blocks on its connection and must never give up a command. */
  readonly workerConnection: Redis;
  readonly background: Background;
  readonly transport: ReturnType<typeof bullmqTransport>;
  readonly jobs: Jobs;
  readonly relay: OutboxRelay;
}

interface ByRole {
  api: ApiInfrastructure;
  worker: WorkerInfrastructure;
  cli: Infrastructure;
}

export async function createInfrastructure<R extends ProcessRole>(
  config: Config,
  options: InfrastructureOptions<R>,
): Promise<ByRole[R]> {
  const { role, logger } = options;
  if (role === "worker" && (!config.redisUrl || options.withoutRedis)) {
    throw new Error("The worker needs REDIS_URL: without it, jobs run inside the API process.");
  }
  const built: Partial<Mutable<WorkerInfrastructure & ApiInfrastructure>> = {};
  let embedded: EmbeddedDatabaseClaim | undefined;
  let closing: Promise<void> | undefined;

  const close = (closeOptions: CloseOptions = {}): Promise<void> => {
    closing ??= closeAll(closeOptions);
    return closing;
  };
  async function closeAll({ drain, relayWaitMs, step }: CloseOptions): Promise<void> {
    const failures: unknown[] = [];
    const run = async (what: string, start: () => Promise<unknown> | undefined) => {
      try {
        const promise = start();
        if (promise) await (step ? step(what, promise) : promise);
      } catch (error) {
        failures.push(error);
      }
    };
    await Promise.all([
      run("the relay's stop", () =>
        built.relay?.stop(relayWaitMs === undefined ? undefined : { waitMs: relayWaitMs }),
      ),
      drain?.catch((error: unknown) => failures.push(error)),
    ]);
    await run("the queue's close", () => built.transport?.close());
    await run("the mailer's close", () => built.background?.mailer.close());
    await run("the session guard's close", () => built.sessions?.close());
    await run("the database's close", () => built.database?.close());
    const connections = [built.redis, built.workerConnection].filter((each) => each !== undefined);
    await run("the Redis connections' close", () =>
      Promise.all(connections.map((each) => each.quit().catch(() => each.disconnect()))),
    );
    embedded?.release();
    if (failures.length > 0) throw failures[0];
  }

  try {
    // The embedded database (development without DATABASE_URL) serves one process at a time, and
    // its first start (tens of seconds) is announced.
    embedded = claimEmbeddedDatabase(
      config,
      options.announce ?? ((message, fields) => logger.info(fields, message)),
    );
    const database = await openDatabase(config, logger);
    built.database = database;
    embedded?.opened();

    const redis = options.withoutRedis ? undefined : createRedis(config, logger);
    built.redis = redis;
    if (redis && role !== "worker") {
      await waitForRedis(redis, 3_000);
    } else if (!redis && role === "api") {
      logger.warn(
        "REDIS_URL is not set: cache and rate limits live in this process (development only)",
      );
    }
    built.cache = createCache(redis ? redisCacheStore(redis) : memoryCacheStore(), {
      prefix: config.redisKeyPrefix,
      logger,
    });
    built.oneTime = redis
      ? redisOneTimeStore(redis, `${config.redisKeyPrefix}one-time:`)
      : memoryOneTimeStore();

    if (role === "api" || role === "worker") {
      const background = createBackground(config, logger, options.jobs ?? []);
      built.background = background;
      let transport: JobTransport;
      if (!redis) {
        transport = inProcessTransport({ registry: background.registry, database, logger });
      } else {
        const openQueue = async () =>
          (await import("./core/jobs/bullmq-transport.js")).bullmqTransport({
            connection: redis,
            keyPrefix: config.redisKeyPrefix,
            registry: background.registry,
          });
        // The API's own jobs go through the outbox, which the worker relays: it opens the queue
        // (and loads BullMQ) only if a job is ever enqueued outside a transaction.
        transport = role === "worker" ? await openQueue() : deferredTransport("bullmq", openQueue);
      }
      built.transport = transport as WorkerInfrastructure["transport"];
      built.jobs = createJobs({ registry: background.registry, transport });
      // The worker relays the outbox to the queue; without Redis the API relays its own.
      if (role === "worker" || transport.kind === "in-process") {
        built.relay = createOutboxRelay({ database, transport, logger });
      }
      if (role === "worker") {
        built.workerConnection = new Redis(config.redisUrl as string, {
          maxRetriesPerRequest: null,
        });
      }
    }

    built.tokens = createTokenService({
      secretKey: config.secretKey,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
    });
    if (role === "api") {
      built.sessions =
        options.sessionGuard ??
        (await createSessionGuard({
          database,
          redis,
          channel: revocationChannel(config.redisKeyPrefix),
          logger,
          checkTimeoutMs: config.databaseStatementTimeoutMs,
        }));
    }
    built.limiters = createLimiterFactory(redis, config.redisKeyPrefix);
    built.audit = createAuditLog(database);
    built.tenantLookup = createTenantLookup(built.cache);
    built.readinessChecks = {
      database: () => database.ping(),
      redis: redis ? () => pingRedis(redis) : undefined,
    };
  } catch (error) {
    // What was opened before the failure is closed; the process may go on (a test, the shell).
    await close().catch(() => {});
    throw error;
  }
  return { ...built, config, close } as unknown as ByRole[R];
}

/** What every feature module is given, from the API's infrastructure. */
export function moduleDependencies(infrastructure: ApiInfrastructure): ModuleDependencies {
  const { config, database, tokens, sessions, limiters, audit, cache, oneTime, jobs, background } =
    infrastructure;
  return {
    config,
    database,
    tokens,
    sessions,
    limiters,
    audit,
    cache,
    oneTime,
    jobs,
    sendEmail: background.sendEmail,
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
