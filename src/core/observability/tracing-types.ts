import type { SpanExporter } from "@opentelemetry/sdk-trace-base";

/**
 * The types tracing.ts (the kit's face of tracing) and tracing-sdk.ts (the SDK behind it,
 * loaded only when tracing is on) share; types only, so neither imports the other's code.
 */

/** A W3C trace context carried across a queue: in an outbox row, in a job's data. */
export interface TraceCarrier {
  readonly traceparent: string;
  readonly tracestate?: string;
}

export type SpanAttributes = Readonly<Record<string, string | number | boolean | undefined>>;

export interface SpanOptions {
  readonly kind?: "internal" | "producer" | "consumer" | "client";
  /** Identifiers and names only: never a token, an email, a password or a body. */
  readonly attributes?: SpanAttributes;
  /** The span's parent, from a carrier (the enqueuer of a job); otherwise the active span. */
  readonly parent?: TraceCarrier | undefined;
}

/** What the HTTP layer knows of a request when it starts its span (http-tracing.ts). */
export interface IncomingRequest {
  readonly method: string;
  /** The route template; undefined when no route matched (404, 405). */
  readonly route: string | undefined;
  /** The raw URL: path and query string. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly httpVersion: string;
  /** http or https; asked only of a request the sampler keeps. */
  scheme(): string;
}

/**
 * The span of the HTTP request being served. A request the sampler leaves out has one too
 * (its trace id is still quoted in X-Trace-Id, problems and log lines), but nothing is recorded
 * on it: `recording` is false and `setAttributes` and `end` return at once.
 */
export interface RequestSpan {
  readonly traceId: string;
  readonly recording: boolean;
  /** Runs `fn` (the rest of Fastify's hooks) with this span active. */
  run(fn: () => void): void;
  setAttributes(attributes: SpanAttributes): void;
  /** Ends the span with the answer's status (or none: the client went away first). */
  end(statusCode: number | undefined): void;
}

/** What tracing-sdk.ts installs while tracing is on. */
export interface ActiveTracing {
  span<T>(name: string, options: SpanOptions, fn: () => Promise<T>): Promise<T>;
  statement<T>(name: string, fn: () => Promise<T>): Promise<T>;
  carrier(): TraceCarrier | undefined;
  ids(): { traceId: string; spanId: string } | undefined;
  request(incoming: IncomingRequest): RequestSpan;
  flush(): Promise<void>;
  /** What the start-up log says about it. */
  readonly description: Readonly<Record<string, string | number | boolean>>;
}

export interface StartTracingOptions {
  /** The worker's spans are reported as `<OTEL_SERVICE_NAME>-worker`. */
  role: "api" | "worker";
  /** Spans go here instead of the OTLP endpoint, synchronously (tests). */
  exporter?: SpanExporter;
}
