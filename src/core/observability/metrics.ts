import { timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { z } from "zod";
import { unauthorized } from "../errors/index.js";
import { publicAccess } from "../http/access.js";
import { kitRegistry } from "./kit-metrics.js";

export interface MetricsOptions {
  /** When set, scrapers must send `Authorization: Bearer <token>`. */
  token: string | undefined;
}

declare module "fastify" {
  interface FastifyInstance {
    metrics: Registry;
  }
  interface FastifyRequest {
    /** Whether http_requests_in_flight counts this request (until it completes or aborts). */
    [countedInFlight]: boolean;
  }
}

const countedInFlight = Symbol("countedInFlight");

const UNMATCHED_ROUTE = "unmatched";

export function tokenMatches(header: string | undefined, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  const given = Buffer.from(header ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Prometheus metrics: request duration by route template (never the raw URL, which would
 * explode cardinality), requests in flight, and the process and event-loop defaults.
 * Each app owns its registry, so several apps in one process (tests) do not collide.
 */
export const metricsPlugin = fp<MetricsOptions>(
  async (app: FastifyInstance, options) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const duration = new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request duration in seconds, by route template, method and status code",
      labelNames: ["method", "route", "status_code"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    const inFlight = new Gauge({
      name: "http_requests_in_flight",
      help: "HTTP requests currently being served",
      registers: [registry],
    });
    app.decorate("metrics", registry);

    // Decrement once per request, on completion or on abort, whichever comes first. A field
    // of the request says whether it is counted (a WeakSet entry per request would be an
    // ephemeron for the collector to process on every collection).
    app.decorateRequest(countedInFlight, false);
    const settle = (request: FastifyRequest) => {
      if (!request[countedInFlight]) return;
      request[countedInFlight] = false;
      inFlight.dec();
    };
    // One labelled child per (method, route, status), looked up by a string key: cheaper than
    // prom-client hashing a label object on every observation.
    const children = new Map<string, ReturnType<typeof duration.labels>>();
    const durationOf = (method: string, route: string, status: number) => {
      const key = `${method} ${route} ${status}`;
      let child = children.get(key);
      if (!child) {
        child = duration.labels({ method, route, status_code: String(status) });
        children.set(key, child);
      }
      return child;
    };
    app.addHook("onRequest", (request, _reply, done) => {
      request[countedInFlight] = true;
      inFlight.inc();
      done();
    });
    app.addHook("onResponse", (request, reply, done) => {
      settle(request);
      const route = request.is404 ? UNMATCHED_ROUTE : (request.routeOptions.url ?? UNMATCHED_ROUTE);
      durationOf(request.method, route, reply.statusCode).observe(reply.elapsedTime / 1000);
      done();
    });
    // Calls of deprecated routes (config.deprecation, core/http/route-docs.ts), so their owners
    // see who still calls them before the sunset.
    const deprecatedCalls = new Counter({
      name: "http_deprecated_requests_total",
      help: "Requests to deprecated routes, by route template and method",
      labelNames: ["method", "route"] as const,
      registers: [registry],
    });
    app.addHook("onResponse", (request, _reply, done) => {
      if (!request.is404 && request.routeOptions.config.deprecation) {
        deprecatedCalls.inc({ method: request.method, route: request.routeOptions.url ?? "" });
      }
      done();
    });
    app.addHook("onRequestAbort", (request, done) => {
      settle(request);
      done();
    });

    app.get(
      "/metrics",
      {
        config: { access: publicAccess },
        schema: {
          operationId: "getMetrics",
          summary: "Prometheus metrics",
          description:
            "Metrics in the Prometheus text format. Requires `Authorization: Bearer <METRICS_TOKEN>` when a metrics token is configured.",
          tags: ["system"],
          // Public unless a token is configured; the document is built for this configuration.
          security: options.token ? [{ metricsToken: [] }] : [],
          response: {
            200: {
              description: "Prometheus text exposition format",
              content: { "text/plain; version=0.0.4": { schema: z.string() } },
            },
          },
        },
      },
      async (request, reply) => {
        if (options.token && !tokenMatches(request.headers.authorization, options.token)) {
          throw unauthorized("A valid metrics token is required.");
        }
        // The process's own metrics (pools, jobs, outbox, limits, sign-ins: kit-metrics.ts) too.
        const exposed = Registry.merge([registry, kitRegistry]);
        return reply.type(registry.contentType).send(await exposed.metrics());
      },
    );
  },
  { name: "metrics" },
);
