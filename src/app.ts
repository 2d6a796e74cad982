import cookie from "@fastify/cookie";
import Fastify, { type FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { DestinationStream } from "pino";
import packageJson from "../package.json" with { type: "json" };
import { docsPage, healthRoutes, openApiPlugin } from "./api/index.js";
import { authentication } from "./app/authentication.js";
import { corsPolicy } from "./app/cors.js";
import { metrics } from "./app/metrics.js";
import { rateLimits } from "./app/rate-limits.js";
import { securityHeaders } from "./app/security-headers.js";
import { serverOptions } from "./app/server-options.js";
import type { Config } from "./config.js";
import type { SessionGuard } from "./core/auth/index.js";
import { errorHandlerPlugin } from "./core/errors/index.js";
import { accessControlPlugin } from "./core/http/access-control.js";
import type { AppModule, ModuleDependencies } from "./core/http/module.js";
import { notFoundPlugin } from "./core/http/not-found.js";
import { requestContextPlugin } from "./core/http/request-context.js";
import { responseSerializerCompiler } from "./core/http/response-serializer.js";
import { routeStandardsPlugin } from "./core/http/route-standards.js";
import { shutdownPlugin } from "./core/http/shutdown.js";
import { validatorCompiler } from "./core/http/validation.js";
import type { AnyJob, Jobs } from "./core/jobs/index.js";
import { createLogger } from "./core/logging/index.js";
import type { Mailer } from "./core/mail/index.js";
import { httpTracingPlugin } from "./core/observability/http-tracing.js";
import {
  type ApiInfrastructure,
  createInfrastructure,
  moduleDependencies,
} from "./infrastructure.js";
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
  /**
   * The services, built by the caller with `createInfrastructure(config, { role: "api" })` to
   * hold the very objects the routes use (npm run shell); `jobs` and `sessionGuard` are then
   * the caller's to pass there. The app closes it.
   */
  infrastructure?: ApiInfrastructure;
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
 * Builds the whole application for a configuration, without listening: the services
 * (src/infrastructure.ts), then the plugins in the order their hooks run, then the modules.
 * Importing this file installs the permission catalog (src/modules.ts) and does nothing else;
 * the caller owns the returned instance and must close it.
 */
export async function createApp(
  config: Config,
  options: CreateAppOptions = {},
): Promise<FastifyInstance> {
  const logger = createLogger(config, options.logStream);
  const app = Fastify(serverOptions(config, logger)).withTypeProvider<ZodTypeProvider>();
  for (const notice of config.notices) app.log.warn(notice);
  const infrastructure =
    options.infrastructure ??
    (await createInfrastructure(config, {
      role: "api",
      logger: app.log,
      jobs: options.jobs,
      sessionGuard: options.sessionGuard,
    }));
  // Without Redis (development) this process also relays the outbox and runs the jobs.
  infrastructure.relay?.start();
  app.decorate("jobs", infrastructure.jobs);
  app.decorate("mailer", infrastructure.background.mailer);

  try {
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
    await app.register(metrics, { config, readinessChecks: infrastructure.readinessChecks });
    await app.register(securityHeaders);
    // Parsed once for every module: the auth routes read the refresh cookie, OAuth its binding.
    await app.register(cookie);
    await app.register(corsPolicy, { config });
    // onClose hooks run last-registered first: the services close after every plugin and module
    // registered below, and before the tracing plugin's flush sends the spans of the closing.
    app.addHook("onClose", () => infrastructure.close());

    // Routes added from here on get their declared limits (not /metrics nor /openapi.json).
    const limits = rateLimits(app, config, infrastructure);
    // Per-IP limits first, so floods of bad tokens are refused before any token is verified.
    app.addHook("onRequest", limits.beforeAuthentication);
    await app.register(authentication, infrastructure);
    // Per-tenant limits after authentication, which names the tenant.
    app.addHook("onRequest", limits.afterAuthentication);
    await app.register(accessControlPlugin, { audit: infrastructure.audit });

    const { name, version } = packageJson;
    await app.register(healthRoutes, {
      checks: infrastructure.readinessChecks,
      info: { name, version, environment: config.environment },
      exposeErrors: config.environment !== "production",
      checkTimeoutMs: 2_000,
    });
    await app.register(docsPage);
    const dependencies = moduleDependencies(infrastructure);
    await app.register(
      async (api) => {
        for (const module of options.modules ?? defaultModules) {
          await api.register(module, dependencies);
        }
      },
      { prefix: "/api/v1" },
    );
    await app.ready();
  } catch (error) {
    try {
      await app.close();
    } finally {
      await infrastructure.close();
    }
    throw error;
  }
  return app;
}
