import type { FastifyInstance, RouteOptions } from "fastify";
import fp from "fastify-plugin";
import type { AccessDeclaration } from "./access.js";

/**
 * Every route must document itself and say who may call it. The check runs when the app is
 * ready, so a route added anywhere (a module, a plugin, a test) is held to the same rules, and
 * `createApp` throws with every offending route named.
 */

export class RouteStandardsError extends Error {
  constructor(readonly violations: readonly string[]) {
    super(
      `Routes do not meet the route standards:\n${violations.map((v) => `  - ${v}`).join("\n")}`,
    );
    this.name = "RouteStandardsError";
  }
}

interface RouteSchemaDocs {
  summary?: string;
  tags?: string[];
  response?: Record<string, unknown>;
  hide?: boolean;
}

function violationsOf(route: RouteOptions): string[] {
  const schema = (route.schema ?? {}) as RouteSchemaDocs;
  const name = `${[route.method].flat().join(",")} ${route.url}`;
  const missing: string[] = [];
  if (!schema.summary?.trim()) missing.push("a summary");
  if (!schema.tags || schema.tags.length === 0) missing.push("tags");
  if (!schema.response || Object.keys(schema.response).length === 0) {
    missing.push("a response schema");
  }
  const access = route.config?.access;
  if (!access) missing.push("an access declaration (config.access)");
  return missing.length > 0 ? [`${name} lacks ${missing.join(", ")}`] : [];
}

export const routeStandardsPlugin = fp(
  async (app: FastifyInstance) => {
    const routes: RouteOptions[] = [];
    app.addHook("onRoute", (route) => {
      // Fastify derives HEAD from GET; the GET route is the one that is checked.
      if (route.method === "HEAD" && route.url && routes.some((r) => r.url === route.url)) return;
      routes.push(route);
    });
    app.addHook("onReady", async () => {
      const violations = routes.flatMap(violationsOf);
      if (violations.length > 0) throw new RouteStandardsError(violations);
    });
  },
  { name: "route-standards" },
);

export interface ThirdPartyRouteDeclaration {
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
    const schema = (route.schema ?? {}) as RouteSchemaDocs;
    route.schema = {
      ...schema,
      summary: declaration.summary,
      tags: declaration.tags,
      response: declaration.response,
    };
    route.config = { ...route.config, ...declaration.config, access: declaration.access };
  });
}
