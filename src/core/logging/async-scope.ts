import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The process's one AsyncLocalStorage: it carries the request's context (request-context.ts)
 * and, while tracing is on, OpenTelemetry's context (tracing-sdk.ts keeps its context manager
 * here). Every AsyncLocalStorage in a process is copied onto each promise and callback it
 * creates; one store instead of two halves that cost on every request, traced or not.
 *
 * A scope is immutable: entering a request keeps the trace context around it, entering a trace
 * context keeps the request, as two separate stores did.
 */
interface Scope {
  readonly request: object | undefined;
  readonly trace: object | undefined;
}

const storage = new AsyncLocalStorage<Scope>();

export const scopedRequest = (): object | undefined => storage.getStore()?.request;

export const scopedTrace = (): object | undefined => storage.getStore()?.trace;

export const runWithRequest = <T>(request: object, fn: () => T): T =>
  storage.run({ request, trace: storage.getStore()?.trace }, fn);

export const runWithTrace = <A extends unknown[], R>(
  trace: object,
  fn: (...args: A) => R,
  ...args: A
): R => storage.run({ request: storage.getStore()?.request, trace }, fn, ...args);

/**
 * Sets the trace context for the rest of the current synchronous execution and what it starts
 * (OpenTelemetry's experimental `attach`); returns the way back.
 */
export function enterTrace(trace: object): () => void {
  const previous = storage.getStore();
  storage.enterWith({ request: previous?.request, trace });
  return () => {
    if (previous) storage.enterWith(previous);
    else storage.enterWith({ request: undefined, trace: undefined });
  };
}
