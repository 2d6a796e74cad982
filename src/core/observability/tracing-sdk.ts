import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { suppressTracing, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { IORedisInstrumentation } from "@opentelemetry/instrumentation-ioredis";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  type Span as SdkSpan,
  SimpleSpanProcessor,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import packageJson from "../../../package.json" with { type: "json" };
import type { Config, TracingSettings } from "../../config.js";
import { enterTrace, runWithTrace, scopedTrace } from "../logging/async-scope.js";
import type {
  ActiveTracing,
  IncomingRequest,
  RequestSpan,
  SpanAttributes,
  StartTracingOptions,
  TraceCarrier,
} from "./tracing-types.js";

/**
 * The OpenTelemetry SDK as the kit runs it: spans of incoming HTTP requests (started by the
 * kit's Fastify hooks, http-tracing.ts), of PostgreSQL (pg), Redis (ioredis) and outgoing calls
 * (undici's fetch: the OAuth providers; node:http), and the kit's own (tenant statements, jobs,
 * the outbox, mail), batched to an OTLP/HTTP endpoint. Loaded only when tracing is on
 * (tracing.ts).
 *
 * A trace the sampler leaves out costs next to nothing: its request span is a bare span context
 * (ids for X-Trace-Id and the log lines, no attributes, no span processor), kept beside the
 * context's span rather than as it, and everything below runs with tracing suppressed: the pg,
 * ioredis, fetch and http instrumentations, which want a parent span, find none and step aside
 * instead of building spans nobody keeps.
 */

const KINDS = {
  internal: SpanKind.INTERNAL,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
  client: SpanKind.CLIENT,
} as const;

/**
 * Job carriers are the kit's own data (outbox rows, job data): always continued. An incoming
 * request's traceparent only with TRUST_TRACEPARENT: anyone on the internet can send one, and
 * continuing it would let them pick trace ids and sampling decisions.
 */
const carriers = new W3CTraceContextPropagator();

/** The span context of a trace the sampler left out, where a kept trace has its active span. */
const SAMPLED_OUT = createContextKey("agency-saas-kit sampled-out trace");

/**
 * OpenTelemetry's context kept in the kit's own AsyncLocalStorage (async-scope.ts), beside the
 * request's context, instead of in a second AsyncLocalStorage of its own: every store is copied
 * onto each promise and callback of every request, kept or not. Binding callbacks and event
 * emitters to a context is OpenTelemetry's, inherited; it goes through `with`.
 */
class SharedContextManager extends AsyncLocalStorageContextManager {
  override active(): Context {
    return (scopedTrace() as Context | undefined) ?? ROOT_CONTEXT;
  }
  override with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    active: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return runWithTrace(active, thisArg == null ? fn : fn.bind(thisArg), ...args);
  }
  override attach(active: Context): { dispose(): void } {
    const leave = enterTrace(active);
    let left = false;
    return {
      dispose() {
        if (left) return;
        left = true;
        leave();
      },
    };
  }
  // The store is the kit's: it outlives tracing (a test turns tracing off and on again).
  override disable(): this {
    return this;
  }
}

const SUPPRESSED_ROOT = suppressTracing(ROOT_CONTEXT);

const spanContextIn = (active: Context): SpanContext | undefined =>
  trace.getSpanContext(active) ?? (active.getValue(SAMPLED_OUT) as SpanContext | undefined);

function samplerOf(settings: TracingSettings): Sampler {
  const ratio = new TraceIdRatioBasedSampler(settings.samplerRatio);
  switch (settings.sampler) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return ratio;
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

const EMAIL = /[^\s@/?&=:"'<>]+@[^\s@/?&=:"'<>]+\.[A-Za-z]{2,}/g;
/** A JSON Web Token (access tokens, ID tokens) or an Authorization header's credentials. */
const TOKEN = /\beyJ[\w-]+\.[\w-]+\.[\w-]*|\b(?:Bearer|Basic)\s+[\w.~+/=-]+/g;
const REDACTED = "REDACTED";

/** `a=1&b=2` as `a=REDACTED&b=REDACTED`: which parameters were sent, never their values. */
const redactQuery = (query: string): string =>
  query
    .split("&")
    .map((pair) => `${pair.split("=")[0]}=${REDACTED}`)
    .join("&");

const redactUrl = (url: string): string => {
  const mark = url.indexOf("?");
  return mark < 0 ? url : `${url.slice(0, mark)}?${redactQuery(url.slice(mark + 1))}`;
};

/**
 * What may not leave the process in a span, whatever an instrumentation recorded. Runs on
 * every attribute of every span: the regular expressions only where a cheap test says they
 * could match.
 */
function scrubbed(key: string, value: unknown): unknown {
  if (typeof value !== "string") return value;
  if (key === "url.query") return redactQuery(value);
  let cleaned = key === "url.full" ? redactUrl(value) : value;
  if (cleaned.includes("@")) cleaned = cleaned.replace(EMAIL, REDACTED);
  if (cleaned.includes("eyJ") || cleaned.includes("Bearer") || cleaned.includes("Basic")) {
    cleaned = cleaned.replace(TOKEN, REDACTED);
  }
  return cleaned;
}

function scrubAttributes(attributes: Attributes): Attributes | undefined {
  let changed: Attributes | undefined;
  for (const key in attributes) {
    const value = attributes[key];
    const clean = scrubbed(key, value);
    if (clean !== value) {
      changed ??= {};
      changed[key] = clean as string;
    }
  }
  return changed;
}

/**
 * Rewrites attributes before a span is exported: query strings keep their parameter names
 * only (an OAuth callback's `code` and `state` are secrets), and anything shaped like an email
 * address or a token is replaced. The kit's own spans carry identifiers only; this guards
 * what the instrumentations record (URLs, user agents, error messages).
 */
class ScrubbingProcessor implements SpanProcessor {
  constructor(private readonly next: SpanProcessor) {}
  onStart(span: SdkSpan, parentContext: Context): void {
    this.next.onStart(span, parentContext);
  }
  onEnding(span: SdkSpan): void {
    const changed = scrubAttributes(span.attributes);
    if (changed) span.setAttributes(changed);
    for (const event of span.events) {
      const attributes = event.attributes;
      if (!attributes) continue;
      const changedInEvent = scrubAttributes(attributes);
      if (changedInEvent) Object.assign(attributes, changedInEvent);
    }
    this.next.onEnding?.(span);
  }
  onEnd(span: ReadableSpan): void {
    this.next.onEnd(span);
  }
  forceFlush(): Promise<void> {
    return this.next.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.next.shutdown();
  }
}

const definedAttributes = (attributes: SpanAttributes | undefined): Attributes => {
  const result: Attributes = {};
  if (!attributes) return result;
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined) result[key] = value;
  }
  return result;
};

/**
 * A kept request's attributes (OpenTelemetry's HTTP server conventions): no headers besides the
 * user agent, no body, no client address; the query string's values are redacted here and,
 * like everything else, scrubbed again before export.
 */
function requestAttributes(incoming: IncomingRequest): Attributes {
  const mark = incoming.url.indexOf("?");
  const attributes: Attributes = {
    "http.request.method": incoming.method,
    "url.scheme": incoming.scheme(),
    "url.path": mark < 0 ? incoming.url : incoming.url.slice(0, mark),
    "network.protocol.version": incoming.httpVersion,
  };
  if (mark >= 0) attributes["url.query"] = redactQuery(incoming.url.slice(mark + 1));
  if (incoming.route) attributes["http.route"] = incoming.route;
  const userAgent = incoming.headers["user-agent"];
  if (typeof userAgent === "string") attributes["user_agent.original"] = userAgent.slice(0, 512);
  return attributes;
}

/** A failure's kind, never its message (a driver's message may quote the values it refused). */
function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code !== "") return code;
  return error instanceof Error ? error.name : "Error";
}

function fail(span: Span, error: unknown): void {
  const type = errorType(error);
  span.setAttribute("error.type", type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

/** Ends a kept span when its work settles, recording a failure by its kind. */
async function recorded<T>(span: Span, work: Promise<T>, statement = false): Promise<T> {
  try {
    return await work;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (statement && typeof code === "string") span.setAttribute("db.response.status_code", code);
    fail(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** The endpoint as the start-up log shows it: no user or password from its URL. */
function displayed(endpoint: string): string {
  const url = new URL(endpoint);
  url.username = "";
  url.password = "";
  return url.href;
}

export function installTracing(
  config: Config,
  options: StartTracingOptions,
): { tracing: ActiveTracing; shutdown(): Promise<void> } {
  const settings = config.tracing;
  const serviceName =
    options.role === "worker" ? `${settings.serviceName}-worker` : settings.serviceName;
  const resource = defaultResource()
    // OTEL_RESOURCE_ATTRIBUTES, as the specification has every SDK read it.
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(
      resourceFromAttributes({
        "service.name": serviceName,
        "service.version": packageJson.version,
        "service.instance.id": randomUUID(),
        "deployment.environment.name": config.environment,
      }),
    );
  // The exporter reads OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT and _COMPRESSION itself; the URL
  // comes from the configuration, which has checked it.
  const processor = options.exporter
    ? new SimpleSpanProcessor(options.exporter)
    : new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.endpoint as string }));
  const provider = new NodeTracerProvider({
    resource,
    sampler: samplerOf(settings),
    spanProcessors: [new ScrubbingProcessor(processor)],
  });
  // The global propagator puts traceparent on outgoing calls (fetch, node:http).
  provider.register({
    propagator: new W3CTraceContextPropagator(),
    contextManager: new SharedContextManager(),
  });

  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      // Outgoing calls only: it would wrap every incoming request, kept or not, in about
      // 100 µs of work before the sampler is asked; the kit's hooks start that span instead.
      new HttpInstrumentation({
        disableIncomingRequestInstrumentation: true,
        requireParentforOutgoingSpans: true,
      }),
      new UndiciInstrumentation({ requireParentforSpans: true }),
      // Round trips outside a traced request or job (the relay's polling) make no traces.
      new PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
      // The command alone: keys and arguments can hold session ids and one-time values.
      new IORedisInstrumentation({
        requireParentSpan: true,
        dbStatementSerializer: (command: string) => command,
      }),
    ],
  });
  // The application imports pg and ioredis as ES modules, which the instrumentations' require
  // hook does not see; loaded here first through require, they are patched, and the later
  // imports get these same modules from the cache.
  const require = createRequire(import.meta.url);
  for (const name of ["node:http", "node:https", "pg", "ioredis"]) require(name);

  const tracer = provider.getTracer("agency-saas-kit", packageJson.version);

  /**
   * The context below a span: the span active; when the sampler left it out, no active span
   * (the instrumentations' `requireParentSpan` then skips them at their first check, where a
   * non-recording span would still have them build attributes and wrap callbacks), its ids
   * under SAMPLED_OUT for log lines and job carriers, and tracing suppressed. Every sampler the
   * kit builds gives a child the decision of its parent (parent-based ones by rule, the ratio
   * one because it decides from the trace id), so there is nothing they could have recorded.
   */
  const below = (parent: Context, span: Span): Context => {
    if (span.isRecording()) return trace.setSpan(parent, span);
    // An untrusted request's parent is the root: one context built, not three.
    const suppressed =
      parent === ROOT_CONTEXT ? SUPPRESSED_ROOT : suppressTracing(trace.deleteSpan(parent));
    return suppressed.setValue(SAMPLED_OUT, span.spanContext());
  };

  // A carrier names the parent by itself: extracted into an empty context, not the active one
  // (a sampled-out request's, which suppresses tracing, when a job runs in-process).
  const contextOf = (carrier: TraceCarrier | undefined): Context =>
    carrier ? carriers.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter) : context.active();

  const requestSpan = (incoming: IncomingRequest): RequestSpan => {
    const parent = settings.trustTraceparent
      ? carriers.extract(ROOT_CONTEXT, incoming.headers, defaultTextMapGetter)
      : ROOT_CONTEXT;
    const { method, route } = incoming;
    // The sampler decides here, before any attribute is built; a span it leaves out is a bare
    // span context that no span processor sees.
    const span = tracer.startSpan(
      route ? `${method} ${route}` : method,
      { kind: SpanKind.SERVER },
      parent,
    );
    const spanContext = below(parent, span);
    const recording = span.isRecording();
    if (recording) span.setAttributes(requestAttributes(incoming));
    let ended = false;
    return {
      traceId: span.spanContext().traceId,
      recording,
      run: (fn) => context.with(spanContext, fn),
      setAttributes(attributes) {
        if (recording) span.setAttributes(definedAttributes(attributes));
      },
      end(statusCode) {
        if (!recording || ended) return;
        ended = true;
        if (statusCode === undefined) {
          span.setAttribute("error.type", "aborted");
        } else {
          span.setAttribute("http.response.status_code", statusCode);
          // Only a 5xx is the server's failure; a 4xx is the client's.
          if (statusCode >= 500) {
            span.setAttribute("error.type", String(statusCode));
            span.setStatus({ code: SpanStatusCode.ERROR });
          }
        }
        span.end();
      },
    };
  };

  const tracing: ActiveTracing = {
    // Not async functions: a span left out returns fn's own promise, as with tracing off,
    // without one more promise and its turns of the microtask queue.
    span(name, spanOptions, fn) {
      const parent = contextOf(spanOptions.parent);
      // Inside a trace the sampler left out (its context already suppresses tracing): nothing
      // to record, and the trace id stays the one log lines and job carriers see.
      if (!spanOptions.parent && parent.getValue(SAMPLED_OUT)) return fn();
      const parentSpan = spanOptions.parent ? undefined : trace.getSpan(parent);
      if (parentSpan && !parentSpan.isRecording()) return fn();
      const span = tracer.startSpan(name, { kind: KINDS[spanOptions.kind ?? "internal"] }, parent);
      if (!span.isRecording()) return context.with(below(parent, span), fn);
      span.setAttributes(definedAttributes(spanOptions.attributes));
      return recorded(span, context.with(below(parent, span), fn));
    },

    statement(name, fn) {
      const parent = context.active();
      // Like the pg instrumentation: no trace of its own for a statement outside a span, and
      // nothing to record in a trace the sampler left out.
      if (!trace.getSpan(parent)?.isRecording()) return fn();
      const span = tracer.startSpan(
        name,
        {
          kind: SpanKind.CLIENT,
          attributes: { "db.system": "postgresql", "db.system.name": "postgresql" },
        },
        parent,
      );
      // The batch goes through pg's Client.query, where the pg instrumentation would add a
      // span of its own without a name or an end: suppressed below this one.
      return recorded(span, context.with(suppressTracing(trace.setSpan(parent, span)), fn), true);
    },

    carrier() {
      const spanContext = spanContextIn(context.active());
      if (!spanContext) return undefined;
      // Injected from the span context alone: the propagator injects nothing where tracing is
      // suppressed, and a sampled-out trace's jobs must carry its decision along.
      const carrier: Record<string, string> = {};
      carriers.inject(
        trace.setSpanContext(ROOT_CONTEXT, spanContext),
        carrier,
        defaultTextMapSetter,
      );
      if (!carrier.traceparent) return undefined;
      return carrier.tracestate
        ? { traceparent: carrier.traceparent, tracestate: carrier.tracestate }
        : { traceparent: carrier.traceparent };
    },

    ids() {
      const spanContext = spanContextIn(context.active());
      if (!spanContext || !isSpanContextValid(spanContext)) return undefined;
      return { traceId: spanContext.traceId, spanId: spanContext.spanId };
    },

    request: requestSpan,

    flush: () => provider.forceFlush(),

    description: {
      tracing: true,
      endpoint: options.exporter ? "in-memory" : displayed(settings.endpoint as string),
      serviceName,
      sampler: settings.sampler,
      samplerRatio: settings.samplerRatio,
      trustTraceparent: settings.trustTraceparent,
    },
  };

  return {
    tracing,
    async shutdown() {
      unregister();
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
