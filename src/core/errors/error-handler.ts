import { randomUUID } from "node:crypto";
import type { Duplex } from "node:stream";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { STATUS_CODES } from "../http/node-http.js";
import { activeTraceIds } from "../observability/tracing.js";
import type { FieldError } from "./app-error.js";
import { AppError } from "./app-error.js";
import { type ProblemCode, problemCatalog } from "./catalog.js";
import { type DatabaseProblem, databaseProblemOf } from "./database-problems.js";
import { buildProblem, PROBLEM_CONTENT_TYPE } from "./problem.js";
import { isServiceUnavailable } from "./unavailable.js";

export interface ErrorHandlerOptions {
  typeBaseUrl: string;
  /** Development only: put the real error message into `detail` of 500 answers. */
  exposeInternalErrors: boolean;
}

interface Mapped {
  code: ProblemCode;
  /** Overrides the catalog status, for client errors the catalog has no entry for. */
  status?: number;
  detail: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
  /** Set when PostgreSQL refused the statement: what to log about it. */
  database?: Pick<DatabaseProblem, "failure" | "logLevel">;
  /** Set when a backing service could not be reached: the operator needs the cause. */
  outage?: true;
}

/** Fastify's own request errors that are the client's fault, by their error code. */
const FRAMEWORK_ERRORS: Record<string, Mapped> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: "malformed-json", detail: "The body is not valid JSON." },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: "malformed-json",
    detail: "The body is empty but the content type is application/json.",
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    code: "payload-too-large",
    detail: "The request body exceeds the size limit.",
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: "unsupported-media-type",
    detail: "This content type is not accepted; send application/json.",
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: "bad-request",
    detail: "The Content-Length header does not match the body.",
  },
  FST_ERR_BAD_URL: { code: "bad-request", detail: "The URL is malformed." },
  FST_ERR_ASYNC_CONSTRAINT: { code: "bad-request", detail: "The request could not be routed." },
};

/** The first catalog code for each status, for errors that carry only a status. */
const CODE_BY_STATUS = new Map<number, ProblemCode>(
  (Object.entries(problemCatalog) as [ProblemCode, { status: number }][])
    .reverse()
    .map(([code, entry]) => [entry.status, code]),
);

/**
 * Field errors name the input by its path alone, in every location: a body field's path joined
 * with `.` (`name`, `lines.0.amount`), a query or path parameter's or header's name (`limit`,
 * `id`). The route standards refuse a route using one name in two locations, and the
 * operation's parameters and body in /openapi.json say where each one is. A rule on a whole
 * input has the empty path.
 */
function validationErrors(error: FastifyError): FieldError[] {
  return (error.validation ?? []).flatMap((issue) => {
    const path = issue.instancePath.replace(/^\//, "").replaceAll("/", ".");
    const params = issue.params as { missingProperty?: string; keys?: string[] } | undefined;
    // An unknown field is reported under its own name, not its parent's.
    if (issue.keyword === "unrecognized_keys" && params?.keys) {
      return params.keys.map((key) => ({
        field: [path, key].filter(Boolean).join("."),
        message: "is not an accepted field",
      }));
    }
    const field = [path, params?.missingProperty].filter(Boolean).join(".");
    return [{ field, message: issue.message ?? "is invalid" }];
  });
}

function mapError(error: FastifyError): Mapped | undefined {
  if (error instanceof AppError) {
    return {
      code: error.code,
      detail: error.detail,
      ...(error.options.errors ? { errors: error.options.errors } : {}),
      ...(error.options.headers ? { headers: error.options.headers } : {}),
    };
  }
  if (error.validation) {
    return {
      code: "validation-failed",
      detail: "The request is invalid; see errors for each field.",
      errors: validationErrors(error),
    };
  }
  const framework = error.code ? FRAMEWORK_ERRORS[error.code] : undefined;
  if (framework) return framework;
  // A database restart or failover: retrying shortly will work, so it is no server fault.
  if (isServiceUnavailable(error)) {
    return {
      code: "service-unavailable",
      detail: "A backing service is unavailable for a moment; retry the request.",
      headers: { "retry-after": "2" },
      outage: true,
    };
  }
  // By SQLSTATE, read through Drizzle's wrapper: conflicts 409, refused values 400, retry 503.
  const database = databaseProblemOf(error);
  if (database) {
    const { failure, logLevel, ...problem } = database;
    return { ...problem, database: { failure, logLevel } };
  }
  if (error.statusCode === 408) {
    return { code: "request-timeout", detail: "The request took too long to arrive." };
  }
  // Other client errors raised by Fastify or its plugins keep their status, not their wording.
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    const code = CODE_BY_STATUS.get(error.statusCode);
    return code
      ? { code, detail: "The request could not be processed." }
      : {
          code: "client-error",
          status: error.statusCode,
          detail: "The request could not be processed.",
        };
  }
  return undefined;
}

/** The id a client quotes in a bug report: the trace id while tracing is on, else the request id. */
const traceIdOf = (request: FastifyRequest): string =>
  request.traceId ?? activeTraceIds()?.traceId ?? request.id;

export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  typeBaseUrl: string,
  mapped: Mapped,
): FastifyReply {
  const problem = buildProblem(typeBaseUrl, mapped.code, {
    ...(mapped.status ? { status: mapped.status } : {}),
    detail: mapped.detail,
    instance: request.url.split("?")[0] ?? request.url,
    traceId: traceIdOf(request),
    ...(mapped.errors ? { errors: mapped.errors } : {}),
  });
  if (mapped.headers) reply.headers(mapped.headers);
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
}

/**
 * Errors Fastify raises before routing (a malformed URL) bypass the error handler; this is
 * Fastify's `frameworkErrors` option, answering them with the same problem shape.
 */
export function frameworkErrorResponder(typeBaseUrl: string) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
    sendProblem(
      request,
      reply,
      typeBaseUrl,
      mapError(error) ?? { code: "bad-request", detail: "The request could not be routed." },
    );
}

/**
 * Errors Node's HTTP parser raises before a request exists (headers too large, a request that
 * never finished arriving, garbage on the wire) are written straight to the socket; this is
 * Fastify's `clientErrorHandler`, answering them as problems too.
 */
export function clientErrorResponder(typeBaseUrl: string) {
  return (error: Error & { code?: string }, socket: Duplex) => {
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const code: ProblemCode =
      error.code === "HPE_HEADER_OVERFLOW"
        ? "request-header-fields-too-large"
        : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? "request-timeout"
          : "bad-request";
    const problem = buildProblem(typeBaseUrl, code, {
      detail: CLIENT_ERROR_DETAILS[code] ?? "The request could not be parsed.",
      instance: "",
      traceId: randomUUID(),
    });
    const body = JSON.stringify(problem);
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy(error);
  };
}

const CLIENT_ERROR_DETAILS: Partial<Record<ProblemCode, string>> = {
  "request-header-fields-too-large": "The request headers exceed the size limit.",
  "request-timeout": "The request took too long to arrive.",
};

/**
 * A failed query's error (Drizzle's DrizzleQueryError) carries the statement's parameters in
 * its message, and parameters can be secrets: log the driver's error and the SQL text only.
 */
function loggableError(error: FastifyError): Record<string, unknown> {
  const failedQuery = error as FastifyError & { query?: unknown; params?: unknown };
  if (typeof failedQuery.query === "string" && "params" in failedQuery && error.cause) {
    return { err: error.cause, query: failedQuery.query };
  }
  return { err: error };
}

/**
 * What failed upstream, for the log of a 5xx the kit raised on purpose (a provider that is down):
 * names, codes and messages only, never a response body, which may hold someone's tokens.
 */
function upstreamCause(cause: unknown, depth = 0): Record<string, unknown> | undefined {
  if (!(cause instanceof Error) || depth > 2) return undefined;
  const code = (cause as { code?: unknown }).code;
  return {
    name: cause.name,
    message: cause.message,
    ...(typeof code === "string" ? { code } : {}),
    ...(cause.cause ? { cause: upstreamCause(cause.cause, depth + 1) } : {}),
  };
}

/** One place where every thrown error becomes an RFC 9457 problem response. */
export const errorHandlerPlugin = fp<ErrorHandlerOptions>(
  async (app: FastifyInstance, options) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const mapped = mapError(error);
      if (mapped) {
        if (mapped.code === "validation-failed" || mapped.code === "malformed-json") {
          request.log.info({ code: mapped.code, errors: mapped.errors }, "request rejected");
        }
        if (mapped.database) {
          request.log[mapped.database.logLevel](
            mapped.database.failure,
            "database refused the request",
          );
        }
        if (mapped.outage) {
          request.log.warn(loggableError(error), "backing service unavailable");
        }
        if (error instanceof AppError && error.status >= 500) {
          request.log.warn(
            { code: mapped.code, detail: mapped.detail, cause: upstreamCause(error.cause) },
            "upstream failure",
          );
        }
        return sendProblem(request, reply, options.typeBaseUrl, mapped);
      }
      request.log.error(loggableError(error), "unhandled error");
      return sendProblem(request, reply, options.typeBaseUrl, {
        code: "internal-error",
        detail: options.exposeInternalErrors
          ? error.message
          : "An unexpected error occurred. Quote the traceId when reporting it.",
      });
    });
  },
  { name: "error-handler" },
);
