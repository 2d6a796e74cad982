import cookie from "@fastify/cookie";
import cors from "@fastify/cors";
import Fastify, { type FastifyInstance, LogController } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { DestinationStream } from "pino";
import { z } from "zod";
import packageJson from "../package.json" with { type: "json" };
import { docsPage, docsSecurityHeaders, healthRoutes, openApiPlugin } from "./api/index.js";
import { createBackground } from "./background.js";
import type { Config } from "./config.js";
import { createAuditLog } from "./core/audit/index.js";
import {
  authenticationPlugin,
  createSessionGuard,
  createTenantLookup,
  createTokenService,
  revocationChannel,
  type SessionGuard,
  tenantScopePlugin,
} from "./core/auth/index.js";
import {
  createCache,
  createRedis,
  memoryCacheStore,
  memoryOneTimeStore,
  pingRedis,
  redisCacheStore,
  redisOneTimeStore,
  waitForRedis,
} from "./core/cache/index.js";
import { openDatabase } from "./core/database/index.js";
import {
  clientErrorResponder,
  errorHandlerPlugin,
  frameworkErrorResponder,
} from "./core/errors/index.js";
import { publicAccess } from "./core/http/access.js";
import { accessControlPlugin } from "./core/http/access-control.js";
import type { AppModule, ModuleDependencies } from "./core/http/module.js";
import { notFoundPlugin } from "./core/http/not-found.js";
import {
  REQUEST_ID_HEADER,
  requestContextPlugin,
  requestIdFor,
} from "./core/http/request-context.js";
import { responseSerializerCompiler } from "./core/http/response-serializer.js";
import { declareThirdPartyRoutes, routeStandardsPlugin } from "./core/http/route-standards.js";
import { securityHeadersPlugin } from "./core/http/security-headers.js";
import { shutdownPlugin } from "./core/http/shutdown.js";
import { validatorCompiler } from "./core/http/validation.js";
import {
  type AnyJob,
  bullmqTransport,
  createJobs,
  createOutboxRelay,
  inProcessTransport,
  type Jobs,
} from "./core/jobs/index.js";
import { BOUND_TO_REQUEST, createLogger } from "./core/logging/index.js";
import type { Mailer } from "./core/mail/index.js";
import { httpTracingPlugin } from "./core/observability/http-tracing.js";
import { observeReadiness } from "./core/observability/kit-metrics.js";
import { metricsPlugin } from "./core/observability/metrics.js";
import { createLimiterFactory, createRateLimiting } from "./core/rate-limit/index.js";
import { claimEmbeddedDatabase } from "./embedded-database.js";
import { defaultModules } from "./modules.js";

export type { AppModule, ModuleDependencies };
export { defaultModules };

export interface CreateAppOptions {
  /**
   * Feature modules mounted under /api/v1; defaults to the kit's own (src/modules.ts). The
   * permission catalog is the module list's either way.
   */
  modules?: readonly AppModule[];
  /** Where JSON log lines go instead of stdout (tests read them). */
  logStream?: DestinationStream;
  /** Job definitions besides the kit's own (tests, modules under development). */
  jobs?: readonly AnyJob[];
  /**
   * Replaces the session guard of the authentication hook. For measuring what the guard
   * costs (bench/) and for tests; an application has no reason to pass one.
   */
  sessionGuard?: SessionGuard;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Enqueues background jobs (the same object modules receive). */
    jobs: Jobs;
    /** The mailer; in development its `outbox` holds the last messages. */
    mailer: Mailer;
  }
}

/**
 * Builds the whole application for a configuration, without listening. Importing this file
 * installs the permission catalog (src/modules.ts) and does nothing else; the caller owns the
 * returned instance and must close it.
 */
export async function createApp(
  config: Config,
  options: CreateAppOptions = {},
): Promise<FastifyInstance> {
  const respondToFrameworkError = frameworkErrorResponder(config.problemTypeBaseUrl);
  const app = Fastify({
    loggerInstance: createLogger(config, options.logStream),
    genReqId: requestIdFor,
    requestIdHeader: false,
    // One log line per request is written on completion (request-context.ts), not two.
    // Request loggers are marked so the log mixin does not add their request id a second time.
    childLoggerFactory: (logger, bindings, childOptions) =>
      Object.assign(logger.child(bindings, childOptions), { [BOUND_TO_REQUEST]: true }),
    logController: new LogController({
      requestIdLogLabel: "requestId",
      disableRequestLogging: true,
    }),
    trustProxy: config.trustProxy,
    bodyLimit: config.bodyLimitBytes,
    // Node enforces the header and request timeouts on a timer of this period (30 s otherwise).
    http: { connectionsCheckingInterval: 1_000, headersTimeout: config.headersTimeoutMs },
    requestTimeout: config.requestTimeoutMs,
    // Idle-socket timeout, a little beyond the request timeout so a slow request gets its 408.
    connectionTimeout: config.requestTimeoutMs + 2_000,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // Requests arriving while closing get the kit's own 503 problem (core/http/shutdown.ts).
    return503OnClosing: false,
    frameworkErrors: (error, request, reply) => {
      reply.header(REQUEST_ID_HEADER, request.id);
      return respondToFrameworkError(error, request, reply);
    },
    clientErrorHandler: clientErrorResponder(config.problemTypeBaseUrl),
    forceCloseConnections: "idle",
  }).withTypeProvider<ZodTypeProvider>();

  for (const notice of config.notices) app.log.warn(notice);

  // JSON is the only body this API reads; anything else answers 415.
  app.removeContentTypeParser("text/plain");
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(responseSerializerCompiler);

  await app.register(routeStandardsPlugin, { generalRateLimits: config.rateLimit.enabled });
  await app.register(errorHandlerPlugin, {
    typeBaseUrl: config.problemTypeBaseUrl,
    exposeInternalErrors: config.environment === "development",
  });
  await app.register(notFoundPlugin, { typeBaseUrl: config.problemTypeBaseUrl });
  // Before any route: the OpenAPI generator sees only routes added after it.
  await app.register(openApiPlugin, {
    title: "Agency SaaS Kit API",
    version: packageJson.version,
    publicUrl: config.publicUrl,
    generalRateLimits: config.rateLimit.enabled,
  });
  await app.register(requestContextPlugin, {
    requestLog: config.requestLog,
    slowMs: config.requestLogSlowMs,
  });
  await app.register(httpTracingPlugin);
  await app.register(shutdownPlugin);
  await app.register(metricsPlugin, { token: config.metricsToken });

  await app.register(securityHeadersPlugin, {
    policies: {
      // The API answers JSON: nothing may be loaded, framed or embedded.
      api: {
        contentSecurityPolicy: {
          directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"] },
        },
      },
      docs: docsSecurityHeaders,
    },
  });
  declareThirdPartyRoutes(app, (route) => route.method === "OPTIONS" && route.url === "*", {
    operationId: "corsPreflight",
    summary: "CORS pre-flight",
    tags: ["system"],
    response: { 204: z.null() },
    access: publicAccess,
  });
  // Parsed once for every module: the auth routes read the refresh cookie, OAuth its binding.
  await app.register(cookie);
  await app.register(cors, {
    origin: config.corsOrigins.includes("*") ? true : [...config.corsOrigins],
    credentials: true,
    methods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    exposedHeaders: [
      "x-request-id",
      "x-trace-id",
      "retry-after",
      "ratelimit-limit",
      "ratelimit-remaining",
      "ratelimit-reset",
      "x-ratelimit-limit",
      "x-ratelimit-remaining",
      "x-ratelimit-reset",
      // A deprecated route's announcement (core/http/route-docs.ts), for the client to log.
      "deprecation",
      "sunset",
      "link",
    ],
    maxAge: 600,
  });

  // Development without DATABASE_URL: one process at a time on the embedded database, and its
  // first start (tens of seconds) is announced.
  const embedded = claimEmbeddedDatabase(config, (message, fields) =>
    app.log.info(fields, message),
  );
  app.addHook("onClose", async () => embedded?.release());
  const database = await openDatabase(config, app.log);
  embedded?.opened();
  const redis = createRedis(config, app.log);
  if (redis) {
    await waitForRedis(redis, 3_000);
  } else {
    app.log.warn(
      "REDIS_URL is not set: cache and rate limits live in this process (development only)",
    );
  }
  app.addHook("onClose", async () => {
    await Promise.all([database.close(), redis?.quit().catch(() => redis.disconnect())]);
  });
  const cache = createCache(redis ? redisCacheStore(redis) : memoryCacheStore(), {
    prefix: config.redisKeyPrefix,
    logger: app.log,
  });
  const oneTime = redis
    ? redisOneTimeStore(redis, `${config.redisKeyPrefix}one-time:`)
    : memoryOneTimeStore();
  const background = createBackground(config, app.log, options.jobs ?? []);
  const transport = redis
    ? bullmqTransport({
        connection: redis,
        keyPrefix: config.redisKeyPrefix,
        registry: background.registry,
      })
    : inProcessTransport({ registry: background.registry, database, logger: app.log });
  const jobs = createJobs({ registry: background.registry, transport });
  // Without Redis (development) this process also relays the outbox and runs the jobs.
  const relay =
    transport.kind === "in-process"
      ? createOutboxRelay({ database, transport, logger: app.log })
      : undefined;
  relay?.start();
  app.decorate("jobs", jobs);
  app.decorate("mailer", background.mailer);
  app.addHook("onClose", async () => {
    await relay?.stop();
    await transport.close();
    await background.mailer.close();
  });
  const tokens = createTokenService({
    secretKey: config.secretKey,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
  });
  const sessions =
    options.sessionGuard ??
    (await createSessionGuard({
      database,
      redis,
      channel: revocationChannel(config.redisKeyPrefix),
      logger: app.log,
    }));
  app.addHook("onClose", () => sessions.close());
  const limiters = createLimiterFactory(redis, config.redisKeyPrefix);
  const audit = createAuditLog(database);
  const tenantLookup = createTenantLookup(cache);
  const rateLimiting = createRateLimiting(app, {
    settings: config.rateLimit,
    redis,
    keyPrefix: config.redisKeyPrefix,
    planOf: async (request) => (await tenantLookup(request.tenantDb)).plan,
  });
  // Per-IP limits first, so floods of bad tokens are refused before any token is verified.
  app.addHook("onRequest", rateLimiting.beforeAuthentication);
  await app.register(authenticationPlugin, { tokens, sessions });
  await app.register(tenantScopePlugin, { database });
  app.addHook("onRequest", rateLimiting.afterAuthentication);
  await app.register(accessControlPlugin, { audit });

  const readinessChecks = {
    database: () => database.ping(),
    redis: redis ? () => pingRedis(redis) : undefined,
  };
  app.addHook("onClose", observeReadiness(readinessChecks));
  await app.register(healthRoutes, {
    checks: readinessChecks,
    info: { name: packageJson.name, version: packageJson.version, environment: config.environment },
    exposeErrors: config.environment !== "production",
    checkTimeoutMs: 2_000,
  });
  await app.register(docsPage);

  await app.register(
    async (api) => {
      const dependencies: ModuleDependencies = {
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
      for (const module of options.modules ?? defaultModules) {
        await api.register(module, dependencies);
      }
    },
    { prefix: "/api/v1" },
  );

  try {
    await app.ready();
  } catch (error) {
    await app.close();
    throw error;
  }
  return app;
}
