import type { Server } from "node:http";
import { type FastifyBaseLogger, type FastifyHttpOptions, LogController } from "fastify";
import type { Config } from "../config.js";
import { clientErrorResponder, frameworkErrorResponder } from "../core/errors/index.js";
import { REQUEST_ID_HEADER, requestIdFor } from "../core/http/request-context.js";
import { RequestLogger } from "../core/logging/index.js";

/**
 * The Fastify instance's options: request ids, one log line per request, the timeouts, and
 * problem answers for errors before routing (docs/architecture.md#building-the-app).
 */
export function serverOptions(
  config: Config,
  logger: FastifyBaseLogger,
): FastifyHttpOptions<Server, FastifyBaseLogger> {
  const respondToFrameworkError = frameworkErrorResponder(config.problemTypeBaseUrl);
  return {
    loggerInstance: logger,
    genReqId: requestIdFor,
    requestIdHeader: false,
    // One log line per request is written on completion (request-context.ts), not two.
    // A request's own logger is made at its first line (request-logger.ts).
    childLoggerFactory: (parent, bindings, childOptions) =>
      new RequestLogger(parent, bindings, childOptions),
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
  };
}
