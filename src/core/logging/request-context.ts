import { activeTraceIds } from "../observability/tracing.js";
import { runWithRequest, scopedRequest } from "./async-scope.js";

/**
 * What every log line, audit row, cache key and job of a request needs to know about it.
 * It lives in AsyncLocalStorage (async-scope.ts, shared with tracing) so deep code reads it
 * without threading it through every call.
 */
export interface RequestContext {
  readonly requestId: string;
  readonly ip: string;
  readonly userAgent?: string | undefined;
  tenantId?: string;
  userId?: string;
}

export const runWithContext = <T>(context: RequestContext, fn: () => T): T =>
  runWithRequest(context, fn);

export const currentContext = (): RequestContext | undefined =>
  scopedRequest() as RequestContext | undefined;

/** Marks loggers that carry the request id as a binding already (Fastify's request loggers). */
export const BOUND_TO_REQUEST = Symbol("boundToRequest");

/**
 * Fields added to every log line written inside a request. Request loggers already carry the
 * request id as a binding; other loggers (the root one, a service's) get it from here. While
 * tracing is on, a line written inside a span carries its trace and span ids too.
 */
export function contextLogFields(
  _fields: object,
  _level: number,
  logger?: object,
): Record<string, string> {
  const ids = activeTraceIds();
  const fields: Record<string, string> = ids ? { traceId: ids.traceId, spanId: ids.spanId } : {};
  const context = currentContext();
  if (!context) return fields;
  if (!(logger && BOUND_TO_REQUEST in logger)) fields.requestId = context.requestId;
  if (context.tenantId) fields.tenantId = context.tenantId;
  if (context.userId) fields.userId = context.userId;
  return fields;
}
