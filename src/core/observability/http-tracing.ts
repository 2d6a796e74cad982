import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { flushTracing, type RequestSpan, requestSpan, tracingDescription } from "./tracing.js";

/** The response header carrying the request's trace id (docs/observability.md). */
const TRACE_ID_HEADER = "x-trace-id";

/** Probes and scrapes arrive every few seconds and would bury the traces of people. */
const UNTRACED_PATHS = /^\/(?:health\/|metrics(?:\?|$))/;

declare module "fastify" {
  interface FastifyRequest {
    /** The trace id of this request's span while tracing is on (problems quote it). */
    traceId?: string;
    /** This request's span while tracing is on, kept or not. */
    [requestSpanOf]: RequestSpan | null;
  }
}

const requestSpanOf = Symbol("requestSpan");

/**
 * The HTTP request's span, started here rather than by OpenTelemetry's HTTP instrumentation,
 * which wraps every request in work before the sampler is asked: named by the route template
 * (never the raw URL), given the tenant and user ids once authentication has found them, ended
 * with the answer's status, and its trace id echoed in X-Trace-Id. A request the sampler leaves
 * out gets its trace id and nothing else. While tracing is off it registers nothing.
 */
export const httpTracingPlugin = fp(
  async (app: FastifyInstance) => {
    const description = tracingDescription();
    app.log.info(description, description.tracing ? "tracing on" : "tracing off");
    if (!description.tracing) return;

    // The span is a field of the request, not a WeakMap entry keyed by it, which the collector
    // would process as an ephemeron on every collection.
    app.decorateRequest(requestSpanOf, null);
    app.decorateRequest("traceId", undefined);
    app.addHook("onRequest", (request, reply, done) => {
      const raw = request.raw;
      const span = UNTRACED_PATHS.test(request.url)
        ? undefined
        : requestSpan({
            method: request.method,
            route: request.is404 ? undefined : request.routeOptions.url,
            url: request.url,
            headers: raw.headers,
            httpVersion: raw.httpVersion,
            scheme: () => request.protocol,
          });
      if (!span) return done();
      request[requestSpanOf] = span;
      request.traceId = span.traceId;
      reply.header(TRACE_ID_HEADER, span.traceId);
      span.run(done);
    });
    // Body parsing resumes in the socket's async context; enter the span's context again.
    app.addHook("preValidation", (request, _reply, done) => {
      const span = request[requestSpanOf];
      if (span) span.run(done);
      else done();
    });
    // No onSend hook: one more hook for every request, kept or not, would run Fastify's onSend
    // runner on each answer; the ids are set once the answer is out, before the span ends.
    app.addHook("onResponse", (request, reply, done) => {
      const span = request[requestSpanOf];
      if (span?.recording) {
        span.setAttributes({
          "tenant.id": request.context?.tenantId,
          "user.id": request.context?.userId,
        });
      }
      span?.end(reply.statusCode);
      done();
    });
    app.addHook("onRequestAbort", (request, done) => {
      request[requestSpanOf]?.end(undefined);
      done();
    });
    app.addHook("onClose", async () => flushTracing());
  },
  { name: "http-tracing", dependencies: ["request-context"] },
);
