import type { RouteOptions } from "fastify";
import { PROBLEM_CONTENT_TYPE, problemSchema } from "../errors/index.js";
import type { AccessDeclaration } from "./access.js";

/**
 * What a route's OpenAPI operation says beyond its Zod schemas, derived from what the route
 * declares so the document cannot disagree with what the server does: the security requirement
 * from `config.access`, the problem responses from the access, the inputs, the method and the
 * rate limits, and the response headers the kit sets. The route-standards plugin fills the
 * derived parts into every route's schema and refuses routes whose declarations break them; the
 * OpenAPI plugin (src/api/openapi.ts) turns the headers and parameters into shared components.
 */

/** The security scheme of the access token (`Authorization: Bearer <accessToken>`). */
export const BEARER_AUTH = "bearerAuth";

export type SecurityRequirement = Readonly<Record<string, readonly string[]>>;

/** `[]` for a public route; the bearer token for every other. */
function securityOf(access: AccessDeclaration): SecurityRequirement[] {
  return access.kind === "public" ? [] : [{ [BEARER_AUTH]: [] }];
}

/** A JSON Schema, as written into the document. */
type JsonSchema = Readonly<Record<string, unknown>>;

/** A response header, documented once under `components.headers[component]`. */
export interface HeaderDoc {
  readonly component: string;
  /** The header's name as it is sent. */
  readonly name: string;
  readonly description: string;
  /** Present on every response it is listed for. */
  readonly required?: boolean;
  readonly schema: JsonSchema;
}

/**
 * A request header or cookie a route reads without a schema validating it (a cookie, which
 * Fastify does not validate; a header whose rule the handler applies), documented once under
 * `components.parameters[component]`.
 */
export interface ParameterDoc {
  readonly component: string;
  readonly in: "header" | "cookie";
  readonly name: string;
  readonly description: string;
  readonly required?: boolean;
  readonly schema: JsonSchema;
}

/**
 * A route on its way out, declared in its `config.deprecation`. It then answers with
 * `Deprecation: @<unix seconds>` (RFC 9745), `Sunset: <HTTP-date>` when a date is set (RFC 8594)
 * and `Link: <link>; rel="deprecation"` when a link is; its operation says `deprecated: true`,
 * and the metric `http_deprecated_requests_total` counts its calls (observability/metrics.ts).
 */
export interface RouteDeprecation {
  /** When the route was, or will be, deprecated: an ISO 8601 date or date-time. */
  readonly since: string;
  /** When it stops working, after `since`; leave it out while no date is decided. */
  readonly sunset?: string;
  /** An absolute URL of a page about the change and what replaces the route. */
  readonly link?: string;
  /** What to call instead, for the document (`POST /api/v2/widgets`). */
  readonly replacement?: string;
}

declare module "fastify" {
  interface FastifyContextConfig {
    deprecation?: RouteDeprecation;
  }
  interface FastifySchema {
    /**
     * Headers the route's own code sets, by status code (`Set-Cookie`); the kit adds its own
     * (X-Request-Id, RateLimit-*, Retry-After, WWW-Authenticate, Location) from the route.
     */
    responseHeaders?: Readonly<Record<number, readonly HeaderDoc[]>>;
    /** Cookies and headers the route reads that no schema of it validates. */
    parameterDocs?: readonly ParameterDoc[];
  }
}

const integer = { type: "integer", minimum: 0 } as const;

/** The headers the kit sets, whatever the route. */
const kitHeaders = {
  requestId: {
    component: "XRequestId",
    name: "X-Request-Id",
    description:
      "The request's id: the client's own `X-Request-Id` when it is 1 to 128 characters of `A-Z a-z 0-9 . _ : -`, otherwise one the server made. The `requestId` of every log line of the request, and the `traceId` of a problem while tracing is off.",
    required: true,
    schema: { type: "string", maxLength: 128 },
  },
  traceId: {
    component: "XTraceId",
    name: "X-Trace-Id",
    description:
      "While tracing is on (docs/observability.md): the OpenTelemetry trace id of the request, 32 lowercase hex digits, also the `traceId` of a problem and of every log line of the request.",
    schema: { type: "string", pattern: "^[0-9a-f]{32}$" },
  },
  accessControlAllowOrigin: {
    component: "AccessControlAllowOrigin",
    name: "Access-Control-Allow-Origin",
    description:
      "The request's `Origin`, when it is one of CORS_ORIGINS (then with `Access-Control-Allow-Credentials: true`, so a browser front end there may read the answer and send the refresh cookie); absent for any other origin.",
    schema: { type: "string", format: "uri", maxLength: 2048 },
  },
  rateLimitLimit: {
    component: "RateLimitLimit",
    name: "RateLimit-Limit",
    description: "Requests the tightest rate limit that applied allows in its window.",
    schema: integer,
  },
  rateLimitRemaining: {
    component: "RateLimitRemaining",
    name: "RateLimit-Remaining",
    description: "Requests left in that window; 0 on a 429.",
    schema: integer,
  },
  rateLimitReset: {
    component: "RateLimitReset",
    name: "RateLimit-Reset",
    description: "Seconds until that window starts again.",
    schema: integer,
  },
  xRateLimitLimit: {
    component: "XRateLimitLimit",
    name: "X-RateLimit-Limit",
    description: "The older spelling of `RateLimit-Limit`, with the same value.",
    schema: integer,
  },
  xRateLimitRemaining: {
    component: "XRateLimitRemaining",
    name: "X-RateLimit-Remaining",
    description: "The older spelling of `RateLimit-Remaining`, with the same value.",
    schema: integer,
  },
  xRateLimitReset: {
    component: "XRateLimitReset",
    name: "X-RateLimit-Reset",
    description: "The older spelling of `RateLimit-Reset`, with the same value.",
    schema: integer,
  },
  retryAfter: {
    component: "RetryAfter",
    name: "Retry-After",
    description:
      "Seconds to wait before sending the request again (at least 1). On every 429 and on the 503 problems; not on the readiness probe's own 503 body.",
    schema: { type: "integer", minimum: 1 },
  },
  wwwAuthenticate: {
    component: "WWWAuthenticate",
    name: "WWW-Authenticate",
    description: 'The scheme to authenticate with: `Bearer realm="api"`.',
    required: true,
    schema: { type: "string", examples: ['Bearer realm="api"'] },
  },
  deprecation: {
    component: "Deprecation",
    name: "Deprecation",
    description:
      "The operation is deprecated (RFC 9745): `@` and the Unix time in seconds when it was, or will be. Move to what its description names before its `Sunset`.",
    required: true,
    schema: { type: "string", pattern: "^@-?[0-9]{1,15}$", maxLength: 17 },
  },
  sunset: {
    component: "Sunset",
    name: "Sunset",
    description:
      "When the deprecated operation stops working (RFC 8594), as an HTTP-date: `Wed, 31 Dec 2025 23:59:59 GMT`.",
    required: true,
    schema: { type: "string", maxLength: 29 },
  },
  deprecationLink: {
    component: "DeprecationLink",
    name: "Link",
    description:
      'A page about the deprecation and what replaces the operation: `<https://...>; rel="deprecation"; type="text/html"` (RFC 9745).',
    required: true,
    schema: { type: "string", maxLength: 2048 },
  },
  location: {
    component: "Location",
    name: "Location",
    description: "Where the redirect leads.",
    required: true,
    schema: { type: "string", format: "uri-reference" },
  },
} as const satisfies Record<string, HeaderDoc>;

const RATE_LIMIT_HEADERS: readonly HeaderDoc[] = [
  kitHeaders.rateLimitLimit,
  kitHeaders.rateLimitRemaining,
  kitHeaders.rateLimitReset,
  kitHeaders.xRateLimitLimit,
  kitHeaders.xRateLimitRemaining,
  kitHeaders.xRateLimitReset,
];

export interface RouteDocsSettings {
  /** The general rate limits (per client IP, per tenant) are on: every route counts. */
  readonly generalRateLimits: boolean;
}

/** Whether a rate limit counts the route's requests: the general ones, or its own. */
const isRateLimited = (route: RouteOptions, settings: RouteDocsSettings): boolean =>
  settings.generalRateLimits || route.config?.rateLimit !== undefined;

/** Whether every alternative of a security requirement names a credential. */
const requiresCredential = (security: readonly SecurityRequirement[] | undefined): boolean =>
  security !== undefined &&
  security.length > 0 &&
  security.every((alternative) => Object.keys(alternative).length > 0);

/** Methods whose request body Fastify reads whenever one is sent, declared or not. */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * The error statuses a route can answer whatever its handler does, with what each means: from
 * its method (a body that is not JSON, too large, or of another type), its security (no valid
 * credential), its access (a permission, a suspended tenant, a token without a tenant), its
 * inputs (validation; a path names a resource that may not exist), its rate limits, and the
 * server (a bug; an outage or a shutdown, to retry).
 */
export function expectedProblems(
  route: RouteOptions,
  settings: RouteDocsSettings,
): Map<number, string> {
  const schema = route.schema ?? {};
  const problems = new Map<number, string>();
  if ([route.method].flat().some((method) => BODY_METHODS.has(method))) {
    problems.set(400, "The body is not valid JSON, or is empty with a JSON content type.");
  }
  if (requiresCredential(schema.security)) {
    problems.set(401, "No valid credential: missing, invalid, expired or revoked.");
  }
  const access = route.config?.access;
  if (access && access.kind !== "public") {
    problems.set(
      403,
      "Not allowed: a permission the caller's roles lack, a suspended tenant, or a token without a tenant on a route that needs one.",
    );
  }
  if (schema.params) {
    problems.set(404, "No such resource; another tenant's answers the same.");
  }
  if ([route.method].flat().some((method) => BODY_METHODS.has(method))) {
    problems.set(413, "The body is larger than the server accepts.");
    problems.set(415, "The body is not `application/json`.");
  }
  if (schema.params || schema.querystring || schema.body || schema.headers) {
    problems.set(422, "The request is invalid; `errors` names each field.");
  }
  if (isRateLimited(route, settings)) {
    problems.set(429, "Too many requests; retry after `Retry-After` seconds.");
  }
  problems.set(500, "An unexpected error; quote the `traceId` when reporting it.");
  problems.set(
    503,
    "A backing service is unavailable for a moment, or the server is shutting down; retry after `Retry-After` seconds.",
  );
  return problems;
}

/** A response of the Problem schema, for a status a route answers besides the derived ones. */
export const problemResponse = (description: string) => ({
  description,
  content: { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } },
});

/** Whether a route's response entry offers the Problem schema as `application/problem+json`. */
export function offersProblem(entry: unknown): boolean {
  const content = (entry as { content?: Record<string, { schema?: unknown }> } | undefined)
    ?.content;
  return content?.[PROBLEM_CONTENT_TYPE]?.schema === problemSchema;
}

/**
 * Fills in what a route's schema leaves to the kit: the security requirement of its access and
 * a problem response for every expected status the route does not document itself. A route
 * without a response schema gets none, so the standards check still names what it lacks.
 */
export function documentRoute(route: RouteOptions, settings: RouteDocsSettings): void {
  const schema = { ...(route.schema ?? {}) };
  const access = route.config?.access;
  if (schema.security === undefined && access) schema.security = securityOf(access);
  const deprecation = route.config?.deprecation;
  if (deprecation && !schema.deprecated) {
    schema.deprecated = true;
    const notice = deprecationNotice(deprecation);
    schema.description = schema.description ? `${schema.description}\n\n${notice}` : notice;
  }
  const declared = schema.response as Record<string, unknown> | undefined;
  if (declared && Object.keys(declared).length > 0) {
    const response = { ...declared };
    for (const [status, description] of expectedProblems({ ...route, schema }, settings)) {
      response[status] ??= problemResponse(description);
    }
    schema.response = response;
  }
  route.schema = schema;
}

/** The response headers of a route's answers with `status` ("200", "4XX"). */
export function headersOf(
  route: RouteOptions,
  status: string,
  settings: RouteDocsSettings,
): HeaderDoc[] {
  const headers: HeaderDoc[] = [
    kitHeaders.requestId,
    kitHeaders.traceId,
    kitHeaders.accessControlAllowOrigin,
  ];
  if (isRateLimited(route, settings)) headers.push(...RATE_LIMIT_HEADERS);
  if (status === "429" || status === "503") headers.push(kitHeaders.retryAfter);
  if (status === "401") headers.push(kitHeaders.wwwAuthenticate);
  if (/^3\d\d$/.test(status)) headers.push(kitHeaders.location);
  const deprecation = route.config?.deprecation;
  if (deprecation) {
    headers.push(kitHeaders.deprecation);
    if (deprecation.sunset) headers.push(kitHeaders.sunset);
    if (deprecation.link) headers.push(kitHeaders.deprecationLink);
  }
  const own = route.schema?.responseHeaders?.[Number(status)];
  if (own) headers.push(...own);
  return headers;
}

const dateOf = (value: string | undefined): Date | undefined => {
  if (value === undefined || !/^\d{4}-\d{2}-\d{2}(T[^\s]+)?$/.test(value)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
};

/** The calendar day of a date, for the document: `2025-06-30`. */
const dayOf = (date: Date) => date.toISOString().slice(0, 10);

/** What is wrong with a route's deprecation declaration; empty when nothing is. */
export function deprecationMistakes(deprecation: RouteDeprecation): string[] {
  const mistakes: string[] = [];
  const since = dateOf(deprecation.since);
  const sunset = dateOf(deprecation.sunset);
  if (!since) mistakes.push(`deprecation.since "${deprecation.since}" is not an ISO 8601 date`);
  if (deprecation.sunset !== undefined && !sunset) {
    mistakes.push(`deprecation.sunset "${deprecation.sunset}" is not an ISO 8601 date`);
  }
  if (since && sunset && sunset.getTime() <= since.getTime()) {
    mistakes.push("deprecation.sunset is not after deprecation.since");
  }
  if (deprecation.link !== undefined && !URL.canParse(deprecation.link)) {
    mistakes.push(`deprecation.link "${deprecation.link}" is not an absolute URL`);
  }
  return mistakes;
}

/**
 * The headers a deprecated route answers with, computed once when it is registered:
 * `Deprecation` (RFC 9745), `Sunset` (RFC 8594, an IMF-fixdate) and `Link`.
 */
export function deprecationHeaders(deprecation: RouteDeprecation): Record<string, string> {
  const since = dateOf(deprecation.since);
  const sunset = dateOf(deprecation.sunset);
  const headers: Record<string, string> = {};
  if (since) headers.deprecation = `@${Math.floor(since.getTime() / 1000)}`;
  if (sunset) headers.sunset = sunset.toUTCString();
  if (deprecation.link) headers.link = `<${deprecation.link}>; rel="deprecation"; type="text/html"`;
  return headers;
}

/** The sentence the operation's description ends with, which the reference page shows. */
function deprecationNotice(deprecation: RouteDeprecation): string {
  const since = dateOf(deprecation.since);
  const sunset = dateOf(deprecation.sunset);
  return [
    `**Deprecated**${since ? ` since ${dayOf(since)}` : ""}`,
    sunset ? `; it stops working after ${dayOf(sunset)}` : "",
    deprecation.replacement ? `. Use \`${deprecation.replacement}\` instead` : "",
    deprecation.link ? `. See ${deprecation.link}` : "",
    ".",
  ].join("");
}
