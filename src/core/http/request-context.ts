import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import {
  REQUEST_COMPLETED,
  REQUEST_FAILED,
  type RequestContext,
  runWithContext,
} from "../logging/index.js";

export const REQUEST_ID_HEADER = "x-request-id";

/**
 * Incoming ids are echoed in headers and problems and stored in logs, audit rows and jobs, so
 * only short tokens of a safe alphabet are kept: no spaces, quotes, slashes or line breaks.
 */
const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Fastify's `genReqId`: keep a well-formed incoming X-Request-Id, otherwise make one. */
export function requestIdFor(request: IncomingMessage): string {
  const incoming = request.headers[REQUEST_ID_HEADER];
  if (typeof incoming === "string" && VALID_REQUEST_ID.test(incoming)) return incoming;
  return randomUUID();
}

declare module "fastify" {
  interface FastifyRequest {
    context: RequestContext;
  }
}

export interface RequestContextOptions {
  /**
   * "all": a completion line for every request; "errors-and-slow": only for answers of 400 and
   * above and for requests that took at least slowMs (docs/configuration.md#request-log-lines).
   */
  requestLog: "all" | "errors-and-slow";
  slowMs: number;
}

/**
 * Puts each request into its own AsyncLocalStorage context, echoes its id, and writes one log
 * line when it completes (every request, or only failed and slow ones). A health probe answered
 * below 400 within slowMs is logged at debug: balancers and orchestrators probe every few
 * seconds, and those lines would bury the requests of people.
 */
export const requestContextPlugin = fp<RequestContextOptions>(
  async (app: FastifyInstance, { requestLog, slowMs }) => {
    const everyRequest = requestLog === "all";
    app.decorateRequest("context", undefined as unknown as RequestContext);
    // The completion line holds the kit's own fields only (no body, header or credential), so
    // it is written without the logger's redaction paths, about a third of the line's CPU.
    const lines = app.log.child({}, { redact: { paths: [] } });

    app.addHook("onRequest", (request, reply, done) => {
      request.context = {
        requestId: request.id,
        ip: request.ip,
        userAgent: request.headers["user-agent"]?.slice(0, 512),
      };
      reply.header(REQUEST_ID_HEADER, request.id);
      runWithContext(request.context, done);
    });
    // Body parsing resumes in the socket's async context; enter the request's context again.
    app.addHook("preValidation", (request, _reply, done) => {
      runWithContext(request.context, done);
    });

    app.addHook("onResponse", (request, reply, done) => {
      const status = reply.statusCode;
      const elapsed = reply.elapsedTime;
      const notable = status >= 400 || elapsed >= slowMs;
      const probe = !notable && request.routeOptions.url?.startsWith("/health/") === true;
      const level = status >= 500 ? "error" : probe ? "debug" : "info";
      if (everyRequest || notable) {
        const fields = {
          requestId: request.id,
          method: request.method,
          path: request.url.split("?")[0],
          route: request.routeOptions.url,
          status,
          durationMs: Math.round(elapsed * 100) / 100,
        };
        lines[level](fields, status >= 500 ? REQUEST_FAILED : REQUEST_COMPLETED);
      }
      done();
    });
  },
  { name: "request-context" },
);
