import type { FastifyInstance, onSendHookHandler, RouteOptions } from "fastify";
import fp from "fastify-plugin";
import type { AccessDeclaration } from "./access.js";
import {
  BEARER_AUTH,
  deprecationHeaders,
  deprecationMistakes,
  documentRoute,
  expectedProblems,
  offersProblem,
  type RouteDocsSettings,
  type SecurityRequirement,
} from "./route-docs.js";

/**
 * Every route must document itself and say who may call it. The check runs when the app is
 * ready, so a route added anywhere (a module, a plugin, a test) is held to the same rules, and
 * `createApp` throws with every offending route named. Before that, each route's schema gets
 * what the kit derives from its declarations (route-docs.ts): its security requirement and the
 * problem responses every route like it can give.
 */

class RouteStandardsError extends Error {
  constructor(readonly violations: readonly string[]) {
    super(
      `Routes do not meet the route standards:\n${violations.map((v) => `  - ${v}`).join("\n")}`,
    );
    this.name = "RouteStandardsError";
  }
}

interface RouteSchemaDocs {
  operationId?: string;
  summary?: string;
  tags?: string[];
  response?: Record<string, unknown>;
  security?: readonly SecurityRequirement[];
  hide?: boolean;
}

/** Readable and valid as a function name in any client generator: `listItems`, `login`. */
const OPERATION_ID = /^[a-z][A-Za-z0-9]*$/;

const nameOf = (route: RouteOptions) => `${[route.method].flat().join(",")} ${route.url}`;

/** What is wrong with a declared security requirement, given the access the route enforces. */
function securityMismatch(
  access: AccessDeclaration,
  security: readonly SecurityRequirement[],
): string | undefined {
  const withBearer = security.filter((alternative) => BEARER_AUTH in alternative);
  if (access.kind === "public") {
    return withBearer.length > 0
      ? `declares security with ${BEARER_AUTH}, but its access is public`
      : undefined;
  }
  return security.length === 0 || withBearer.length < security.length
    ? `declares security that does not require ${BEARER_AUTH}, but its access is ${access.kind}`
    : undefined;
}

function violationsOf(route: RouteOptions, settings: RouteDocsSettings): string[] {
  const schema = (route.schema ?? {}) as RouteSchemaDocs;
  const missing: string[] = [];
  if (!schema.operationId?.trim()) missing.push("an operationId");
  if (!schema.summary?.trim()) missing.push("a summary");
  if (!schema.tags || schema.tags.length === 0) missing.push("tags");
  const response = schema.response ?? {};
  const documented = Object.keys(response).length > 0;
  if (!documented) missing.push("a response schema");
  const access = route.config?.access;
  if (!access) missing.push("an access declaration (config.access)");
  if (!schema.security) missing.push("security (derived from config.access)");
  const name = nameOf(route);
  const violations = missing.length > 0 ? [`${name} lacks ${missing.join(", ")}`] : [];

  const shared = namesInSeveralLocations(route);
  if (shared.length > 0) {
    violations.push(
      `${name} uses ${shared.join(", ")} in more than one of its path, query, headers and body, which field errors name by path alone`,
    );
  }
  if (schema.operationId?.trim() && !OPERATION_ID.test(schema.operationId)) {
    violations.push(`${name} has operationId "${schema.operationId}", which is not camelCase`);
  }
  if (access && schema.security) {
    const mismatch = securityMismatch(access, schema.security);
    if (mismatch) violations.push(`${name} ${mismatch}`);
  }
  const deprecation = route.config?.deprecation;
  if (deprecation) {
    for (const mistake of deprecationMistakes(deprecation)) violations.push(`${name}: ${mistake}`);
  }
  if (documented) {
    const expected = [...expectedProblems(route, settings).keys()].map(String);
    const absent = expected.filter((status) => !(status in response));
    if (absent.length > 0) {
      violations.push(`${name} documents no problem response for ${absent.join(", ")}`);
    }
    const errors = Object.keys(response).filter((status) => /^[45]/.test(status));
    const withoutProblem = errors.filter((status) => !offersProblem(response[status]));
    if (withoutProblem.length > 0) {
      violations.push(
        `${name} answers ${withoutProblem.join(", ")} without the Problem schema (application/problem+json)`,
      );
    }
  }
  return violations;
}

/** Top-level input names that appear in more than one location of the route. */
function namesInSeveralLocations(route: RouteOptions): string[] {
  const schema = (route.schema ?? {}) as Record<string, unknown>;
  const seen = new Map<string, number>();
  for (const location of ["params", "querystring", "headers", "body"]) {
    const shape = (schema[location] as { shape?: Record<string, unknown> } | undefined)?.shape;
    for (const key of Object.keys(shape ?? {})) {
      const normalized = location === "headers" ? key.toLowerCase() : key;
      seen.set(normalized, (seen.get(normalized) ?? 0) + 1);
    }
  }
  return [...seen].filter(([, count]) => count > 1).map(([key]) => key);
}

/** Every operationId names one route: client generators make one function of each. */
function duplicateOperationIds(routes: readonly RouteOptions[]): string[] {
  const byId = new Map<string, string[]>();
  for (const route of routes) {
    const id = (route.schema as RouteSchemaDocs | undefined)?.operationId?.trim();
    if (id) byId.set(id, [...(byId.get(id) ?? []), nameOf(route)]);
  }
  return [...byId]
    .filter(([, names]) => names.length > 1)
    .map(([id, names]) => `operationId "${id}" is used by ${names.join(" and ")}`);
}

/**
 * A deprecated route says so on every answer, errors included: a route-level onSend hook sets
 * the headers its declaration gives (route-docs.ts), computed once here.
 */
function announceDeprecation(route: RouteOptions): void {
  const deprecation = route.config?.deprecation;
  if (!deprecation) return;
  const headers = deprecationHeaders(deprecation);
  const announce: onSendHookHandler = (_request, reply, payload, done) => {
    reply.headers(headers);
    done(null, payload);
  };
  route.onSend = [...[route.onSend ?? []].flat(), announce];
}

/** The settings of each app's route documentation, for routes declared from outside it. */
const settingsOf = new WeakMap<FastifyInstance, RouteDocsSettings>();

export const routeStandardsPlugin = fp<RouteDocsSettings>(
  async (app: FastifyInstance, options) => {
    const settings: RouteDocsSettings = { generalRateLimits: options.generalRateLimits };
    settingsOf.set(app, settings);
    const routes: RouteOptions[] = [];
    app.addHook("onRoute", (route) => {
      documentRoute(route, settings);
      announceDeprecation(route);
      // Fastify derives HEAD from GET; the GET route is the one that is checked.
      if (route.method === "HEAD" && route.url && routes.some((r) => r.url === route.url)) return;
      routes.push(route);
    });
    app.addHook("onReady", async () => {
      const violations = [
        ...routes.flatMap((route) => violationsOf(route, settings)),
        ...duplicateOperationIds(routes),
      ];
      if (violations.length > 0) throw new RouteStandardsError(violations);
    });
  },
  { name: "route-standards" },
);

export interface ThirdPartyRouteDeclaration {
  operationId: string;
  summary: string;
  tags: string[];
  response: Record<string, unknown>;
  access: AccessDeclaration;
  /** Further route config, for example a route-specific helmet policy. */
  config?: Record<string, unknown>;
}

/**
 * Routes that a third-party plugin registers (the API reference page, CORS pre-flight) cannot
 * carry our declarations in their source. The code that registers such a plugin declares them
 * here, explicitly and by URL, before registering it; the standards check then applies as usual.
 */
export function declareThirdPartyRoutes(
  app: FastifyInstance,
  matches: (route: RouteOptions) => boolean,
  declaration: ThirdPartyRouteDeclaration,
): void {
  app.addHook("onRoute", (route) => {
    if (!matches(route)) return;
    // What the standards plugin derived before this hook ran came from no access declaration.
    const { security: _derived, ...schema } = (route.schema ?? {}) as RouteSchemaDocs;
    route.schema = {
      ...schema,
      operationId: declaration.operationId,
      summary: declaration.summary,
      tags: declaration.tags,
      response: declaration.response,
    };
    route.config = { ...route.config, ...declaration.config, access: declaration.access };
    const settings = settingsOf.get(app);
    if (settings) documentRoute(route, settings);
  });
}
