import { AsyncLocalStorage } from "node:async_hooks";

/**
 * What every log line, audit row, cache key and job of a request needs to know about it.
 * It lives in AsyncLocalStorage so deep code reads it without threading it through every call.
 */
export interface RequestContext {
  readonly requestId: string;
  readonly ip: string;
  tenantId?: string;
  userId?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export const runWithContext = <T>(context: RequestContext, fn: () => T): T =>
  storage.run(context, fn);

export const currentContext = (): RequestContext | undefined => storage.getStore();

/** Fields added to every log line written inside a request (the request id is bound already). */
export function contextLogFields(): Record<string, string> {
  const context = storage.getStore();
  if (!context) return {};
  const fields: Record<string, string> = {};
  if (context.tenantId) fields.tenantId = context.tenantId;
  if (context.userId) fields.userId = context.userId;
  return fields;
}
