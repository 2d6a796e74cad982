import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { FieldError } from "./app-error.js";
import { AppError } from "./app-error.js";
import type { ProblemCode } from "./catalog.js";
import { buildProblem, PROBLEM_CONTENT_TYPE } from "./problem.js";

export interface ErrorHandlerOptions {
  typeBaseUrl: string;
  /** Development only: put the real error message into `detail` of 500 answers. */
  exposeInternalErrors: boolean;
}

interface Mapped {
  code: ProblemCode;
  detail: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
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

/** PostgreSQL SQLSTATEs that describe a conflict with existing data, not a server fault. */
const DATABASE_CONFLICTS: Record<string, string> = {
  "23505": "A resource with these values already exists.",
  "23503": "The request refers to a resource that does not exist or is still in use.",
};

const LOCATION_PREFIX: Record<string, string> = {
  body: "",
  querystring: "query.",
  params: "params.",
  headers: "headers.",
};

function validationErrors(error: FastifyError): FieldError[] {
  const prefix = LOCATION_PREFIX[error.validationContext ?? "body"] ?? "";
  return (error.validation ?? []).map((issue) => {
    const path = issue.instancePath.replace(/^\//, "").replaceAll("/", ".");
    const missing = (issue.params as { missingProperty?: string } | undefined)?.missingProperty;
    const field = [path, missing].filter(Boolean).join(".");
    return { field: `${prefix}${field}` || (prefix ? prefix.slice(0, -1) : "body"), message: issue.message ?? "is invalid" };
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
  const conflict = error.code ? DATABASE_CONFLICTS[error.code] : undefined;
  if (conflict) return { code: "conflict", detail: conflict };
  if (error.statusCode === 408) {
    return { code: "request-timeout", detail: "The request took too long to arrive." };
  }
  // Other client errors raised by Fastify or its plugins keep their status, not their wording.
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return { code: "bad-request", detail: "The request could not be processed." };
  }
  return undefined;
}

/** The trace id a client quotes in a bug report; the request id until tracing provides one. */
export const traceIdOf = (request: FastifyRequest): string => request.id;

export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  typeBaseUrl: string,
  mapped: Mapped,
): FastifyReply {
  const problem = buildProblem(typeBaseUrl, mapped.code, {
    detail: mapped.detail,
    instance: request.url.split("?")[0] ?? request.url,
    traceId: traceIdOf(request),
    ...(mapped.errors ? { errors: mapped.errors } : {}),
  });
  if (mapped.headers) reply.headers(mapped.headers);
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
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
        return sendProblem(request, reply, options.typeBaseUrl, mapped);
      }
      request.log.error({ err: error }, "unhandled error");
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
