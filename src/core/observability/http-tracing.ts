import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { flushTracing, type RequestSpan, requestSpan, tracingDescription } from "./tracing.js";

/** The response header carrying the request's trace id (docs/observability.md). */
const TRACE_ID_HEADER = "x-trace-id";

declare module "fastify" {
  interface FastifyRequest {
    /** The trace id of this request's span while tracing is on (problems quote it). */
    traceId?: string;
  }
}

/**
 * The HTTP request's span, as the HTTP instrumentation started it: named by the route
 * template (never the raw URL), given the tenant and user ids once authentication has found
 * them, and its trace id echoed in X-Trace-Id. While tracing is off it registers nothing.
 */
export const httpTracingPlugin = fp(
  async (app: FastifyInstance) => {
    const description = tracingDescription();
    app.log.info(description, description.tracing ? "tracing on" : "tracing off");
    if (!description.tracing) return;

    const spans = new WeakMap<object, RequestSpan>();
    app.decorateRequest("traceId", undefined);
    app.addHook("onRequest", (request, reply, done) => {
      const span = requestSpan(request.is404 ? undefined : request.routeOptions.url);
      if (span) {
        spans.set(request, span);
        request.traceId = span.traceId;
        reply.header(TRACE_ID_HEADER, span.traceId);
      }
      done();
    });
    // Before the response is written, when the instrumentation ends the span.
    app.addHook("onSend", (request, _reply, payload, done) => {
      spans.get(request)?.setAttributes({
        "tenant.id": request.context?.tenantId,
        "user.id": request.context?.userId,
      });
      done(null, payload);
    });
    app.addHook("onClose", async () => flushTracing());
  },
  { name: "http-tracing", dependencies: ["request-context"] },
);
