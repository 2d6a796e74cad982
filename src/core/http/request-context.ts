import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { type RequestContext, runWithContext } from "../logging/index.js";

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

/**
 * Puts each request into its own AsyncLocalStorage context, echoes its id, and writes one log
 * line when it completes.
 */
export const requestContextPlugin = fp(
  async (app: FastifyInstance) => {
    app.decorateRequest("context", undefined as unknown as RequestContext);

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

    app.addHook("onResponse", async (request, reply) => {
      const fields = {
        method: request.method,
        path: request.url.split("?")[0],
        route: request.routeOptions.url,
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
      };
      if (reply.statusCode >= 500) request.log.error(fields, "request failed");
      else request.log.info(fields, "request completed");
    });
  },
  { name: "request-context" },
);
