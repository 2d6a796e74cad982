import type { Config } from "../../config.js";
import type {
  ActiveTracing,
  IncomingRequest,
  RequestSpan,
  SpanOptions,
  StartTracingOptions,
  TraceCarrier,
} from "./tracing-types.js";

export type { IncomingRequest, RequestSpan, TraceCarrier } from "./tracing-types.js";

/**
 * Tracing's face to the rest of the kit. Nothing of OpenTelemetry is loaded unless tracing is
 * on: the SDK, its exporter and the instrumentations live in tracing-sdk.ts, which
 * `startTracing` imports only when an OTLP endpoint is configured. Until then every function
 * here is a check of one variable, so the code paths that call them (each tenant statement,
 * each job, each log line) cost what they cost before tracing existed.
 */

export interface TracingHandle {
  flush(): Promise<void>;
  /** Exports what is left and stops tracing (the process is ending). */
  shutdown(): Promise<void>;
}

let active: ActiveTracing | undefined;

/**
 * Turns tracing on when the configuration names an OTLP endpoint (or a test passes an
 * exporter); returns undefined otherwise. Call it before the application is imported: the
 * instrumentations patch node:http (outgoing calls), pg and ioredis as they load (main.ts,
 * worker.ts).
 */
export async function startTracing(
  config: Config,
  options: StartTracingOptions,
): Promise<TracingHandle | undefined> {
  if (active) throw new Error("Tracing is already on in this process");
  if (!config.tracing.endpoint && !options.exporter) return undefined;
  const { installTracing } = await import("./tracing-sdk.js");
  const installed = installTracing(config, options);
  active = installed.tracing;
  return {
    flush: () => installed.tracing.flush(),
    async shutdown() {
      active = undefined;
      await installed.shutdown();
    },
  };
}

/** Whether tracing is on, and how, for the start-up log. */
export const tracingDescription = (): Readonly<Record<string, string | number | boolean>> =>
  active ? active.description : { tracing: false };

/** Runs `fn` in a span of its own; just runs it while tracing is off. */
export function withSpan<T>(name: string, options: SpanOptions, fn: () => Promise<T>): Promise<T> {
  return active ? active.span(name, options, fn) : fn();
}

/**
 * One tenant statement's round trip (pg-driver.ts), named by the statement's name: the pg
 * instrumentation cannot name a statement batch, and is kept out of it.
 */
export function traceStatement<T>(name: string, fn: () => Promise<T>): Promise<T> {
  return active ? active.statement(name, fn) : fn();
}

/** The active span's trace context, to carry with a job; undefined while tracing is off. */
export const traceCarrier = (): TraceCarrier | undefined => active?.carrier();

/** The active span's ids, for log lines; undefined while tracing is off or outside a span. */
export const activeTraceIds = (): { traceId: string; spanId: string } | undefined => active?.ids();

/**
 * Starts the span of a request being served, named by its route template (http-tracing.ts);
 * undefined while tracing is off.
 */
export const requestSpan = (incoming: IncomingRequest): RequestSpan | undefined =>
  active?.request(incoming);

/** Sends the spans still waiting in the batch (an app closing). */
export const flushTracing = async (): Promise<void> => {
  await active?.flush();
};
