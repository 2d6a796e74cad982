import swagger from "@fastify/swagger";
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RouteOptions,
} from "fastify";
import fp from "fastify-plugin";
import {
  createJsonSchemaTransformObject,
  jsonSchemaTransform,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import type { HelmetOptions } from "helmet";
import { z } from "zod";
import { PROBLEM_CONTENT_TYPE, problemSchema } from "../core/errors/index.js";
import { publicAccess } from "../core/http/access.js";
import { STATUS_CODES } from "../core/http/node-http.js";
import {
  BEARER_AUTH,
  type HeaderDoc,
  headersOf,
  type ParameterDoc,
  type RouteDocsSettings,
} from "../core/http/route-docs.js";

export interface OpenApiOptions {
  title: string;
  version: string;
  publicUrl: string;
  /** The general rate limits are on (RATE_LIMIT_ENABLED): every route sends RateLimit-*. */
  generalRateLimits: boolean;
}

type Json = Record<string, unknown>;

/** Operation keys that carry what the route declared from the transform to the final pass. */
const HEADERS_KEY = "x-kit-response-headers";
const PARAMETERS_KEY = "x-kit-parameters";

/** What the kit's tags group; a tag a new module brings is listed with its name only. */
const TAG_DESCRIPTIONS: Record<string, string> = {
  auth: "Registration, sign-in, sessions, passwords, email verification and OAuth sign-in.",
  users: "The signed-in user's own account and the provider accounts linked to it.",
  roles: "The permission catalog and the tenant's roles.",
  members: "The tenant's members and invitations.",
  tenants: "Creating a tenant; the tenant of the access token.",
  items: "The example tenant-scoped resource.",
  audit: "The tenant's audit log.",
  admin: "Platform administration (platform administrators only).",
  health: "Probes and service information.",
  docs: "This document and the reference page.",
  system: "Metrics and CORS.",
};

/** Client errors no operation lists by status: a request timeout, headers too large. */
const otherClientErrors = {
  description: "Another client error (408, 431, ...), as problem details.",
  content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: "#/components/schemas/Problem" } } },
};

/**
 * The OpenAPI 3.1 document is generated from the route schemas themselves, so it cannot drift
 * from what the server validates. The route-standards plugin has already given every route its
 * security requirement and its problem responses (core/http/route-docs.ts); here each response
 * gets its headers and each operation the cookies and headers it reads, as references to shared
 * components, and the schema components nothing refers to (the request-side copies the Zod
 * provider makes of every registered schema) are left out.
 */
export const openApiPlugin = fp<OpenApiOptions>(
  async (app: FastifyInstance, options) => {
    const settings = { generalRateLimits: options.generalRateLimits };
    // For the clients of the deployment, not for its own services only (OWASP API9).
    const server = { url: options.publicUrl, "x-internal": false };
    const zodTransformObject = createJsonSchemaTransformObject({
      schemaRegistry: z.globalRegistry,
    });
    await app.register(swagger, {
      openapi: {
        openapi: "3.1.0",
        info: {
          title: options.title,
          version: options.version,
          description:
            "Multi-tenant SaaS API. Errors are RFC 9457 problem details (`application/problem+json`); every operation lists the statuses it can answer.",
        },
        servers: [server],
        // Secure by default, as the server is; public operations say `security: []`.
        security: [{ [BEARER_AUTH]: [] }],
        components: {
          securitySchemes: {
            [BEARER_AUTH]: {
              type: "http",
              scheme: "bearer",
              bearerFormat: "JWT",
              description:
                "The access token of the token response (register, login, refresh, switch-tenant); it lives 15 minutes. A JWS following RFC8725 (JSON Web Token Best Current Practices): HS256 only, the header exactly `{ alg, typ }`, issuer and audience checked, and revocable with its session.",
            },
            refreshCookie: {
              type: "apiKey",
              in: "cookie",
              // The contract's name, which auth/cookies.ts sets (test/integration/openapi.test.ts).
              name: "refresh_token",
              description:
                "The HttpOnly refresh-token cookie that register, login, refresh, switch-tenant and the OAuth callback set, and that the browser sends back to /api/v1/auth by itself. Refresh and logout read it; they are public routes (no bearer token), so they declare it as their `refresh_token` cookie parameter.",
            },
            metricsToken: {
              type: "http",
              scheme: "bearer",
              description: "METRICS_TOKEN, when one is configured, for GET /metrics.",
            },
          },
        },
      },
      transform: (input) => {
        const output = jsonSchemaTransform(input);
        const schema = output.schema as Json;
        if (schema.hide) return output;
        return { ...output, schema: operationOf(schema, input.route, settings) };
      },
      transformObject: (input) => finish(zodTransformObject(input) as Json),
    });
    // Keep the Problem schema registered even before any route references it.
    z.globalRegistry.get(problemSchema);

    app.withTypeProvider<ZodTypeProvider>().get(
      "/openapi.json",
      {
        config: { access: publicAccess },
        schema: {
          operationId: "getOpenApiDocument",
          summary: "OpenAPI document",
          description: "The OpenAPI 3.1 description of every route of this API.",
          tags: ["docs"],
          response: { 200: z.record(z.string(), z.unknown()) },
        },
      },
      async () => app.swagger() as unknown as Record<string, unknown>,
    );
  },
  { name: "openapi" },
);

/**
 * The route's schema as @fastify/swagger reads it: the declarations only the kit understands
 * move to extension keys that `finish` turns into component references (swagger would wrap a
 * header reference into a schema).
 */
function operationOf(schema: Json, route: RouteOptions, settings: RouteDocsSettings): Json {
  const { responseHeaders: _headers, parameterDocs, ...operation } = schema;
  const response: Json = { "4XX": otherClientErrors };
  for (const [status, entry] of Object.entries(operation.response as Record<string, Json>)) {
    // A response needs a description; a schema without one gets the status's reason phrase.
    response[status] =
      entry.description === undefined
        ? { ...entry, "x-response-description": STATUS_CODES[status] ?? status }
        : entry;
  }
  const headers = Object.fromEntries(
    Object.keys(response).map((status) => [status, headersOf(route, status, settings)]),
  );
  return {
    ...operation,
    response,
    [HEADERS_KEY]: headers,
    ...(parameterDocs ? { [PARAMETERS_KEY]: parameterDocs } : {}),
  };
}

/**
 * The last pass over the document: shared header and parameter components, referenced from
 * every response and operation that carries them, and only the schemas something refers to.
 */
function finish(document: Json): Json {
  const headers = new Map<string, HeaderDoc>();
  const parameters = new Map<string, ParameterDoc>();
  const shared = <T extends { component: string }>(registry: Map<string, T>, doc: T) => {
    const known = registry.get(doc.component);
    if (known && JSON.stringify(known) !== JSON.stringify(doc)) {
      throw new Error(`Two different definitions of the OpenAPI component ${doc.component}`);
    }
    registry.set(doc.component, doc);
    return doc.component;
  };
  const paths = document.paths as Record<string, Record<string, Json>>;
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      const byStatus = (operation[HEADERS_KEY] ?? {}) as Record<string, HeaderDoc[]>;
      const responses = operation.responses as Record<string, Json>;
      for (const [status, docs] of Object.entries(byStatus)) {
        const response = responses[status.toUpperCase()];
        if (!response) continue;
        response.headers = Object.fromEntries(
          docs.map((doc) => [doc.name, { $ref: `#/components/headers/${shared(headers, doc)}` }]),
        );
      }
      const reads = (operation[PARAMETERS_KEY] ?? []) as ParameterDoc[];
      if (reads.length > 0) {
        operation.parameters = [
          ...((operation.parameters as unknown[] | undefined) ?? []),
          ...reads.map((doc) => ({ $ref: `#/components/parameters/${shared(parameters, doc)}` })),
        ];
      }
      delete operation[HEADERS_KEY];
      delete operation[PARAMETERS_KEY];
    }
  }
  const tags = new Set<string>();
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      for (const tag of (operation.tags as string[] | undefined) ?? []) tags.add(tag);
    }
  }
  const components = document.components as Json;
  const sorted = <T>(entries: [string, T][]) =>
    Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
  return {
    ...document,
    // Client generators group operations by these; every tag an operation uses is listed.
    tags: [...tags].sort().map((name) => {
      const description = TAG_DESCRIPTIONS[name];
      return description ? { name, description } : { name };
    }),
    components: {
      ...components,
      schemas: referencedSchemas(document, components.schemas as Json),
      headers: sorted(
        [...headers.values()].map(({ component, name: _name, schema, ...header }) => [
          component,
          { ...header, schema },
        ]),
      ),
      parameters: sorted(
        [...parameters.values()].map(({ component, ...parameter }) => [component, parameter]),
      ),
    },
  };
}

/**
 * The schema components the paths refer to, directly or through other components. The Zod
 * provider emits an `<Id>Input` copy of every registered schema for request bodies; a copy no
 * request uses would only add unused types to generated clients.
 */
function referencedSchemas(document: Json, schemas: Json): Json {
  const prefix = "#/components/schemas/";
  const reached = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const each of value) visit(each);
      return;
    }
    if (value === null || typeof value !== "object") return;
    for (const [key, child] of Object.entries(value)) {
      if (key === "$ref" && typeof child === "string" && child.startsWith(prefix)) {
        const name = child.slice(prefix.length);
        if (!reached.has(name)) {
          reached.add(name);
          visit(schemas[name]);
        }
      } else {
        visit(child);
      }
    }
  };
  visit(document.paths);
  return Object.fromEntries(Object.entries(schemas).filter(([name]) => reached.has(name)));
}

/** The page runs Scalar's bundle and one inline bootstrap script, and fetches /openapi.json. */
export const docsSecurityHeaders: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'", "'unsafe-inline'"],
      styleSrc: ["'self'", "'unsafe-inline'", "https:"],
      fontSrc: ["'self'", "https:", "data:"],
      imgSrc: ["'self'", "data:", "https:"],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
};

/** What a docs answer keeps of the reference page's own headers (the kit sets the rest). */
const FORWARDED_HEADERS = ["content-type", "location", "cache-control", "etag", "last-modified"];

/**
 * The interactive reference page at /docs (Scalar), reading /openapi.json.
 *
 * Scalar's plugin embeds its 4 MB browser bundle as a string and brings a parser for OpenAPI
 * documents: importing it costs about 30 MB of memory in every process. So it is imported on the
 * first request under /docs, not at start: an API process that nobody reads the docs from never
 * loads it. It runs in a private Fastify instance (not listening) that each docs request is
 * passed to with `inject`; the kit's own hooks (security headers with the "docs" policy, rate
 * limits, logging) apply to the outer routes as to any other.
 */
export async function docsPage(app: FastifyInstance): Promise<void> {
  let reference: Promise<FastifyInstance> | undefined;
  const load = async () => {
    const { default: scalar } = await import("@scalar/fastify-api-reference");
    const inner = Fastify({ logger: false });
    await inner.register(scalar, {
      routePrefix: "/docs",
      configuration: { url: "/openapi.json", pageTitle: "API reference" },
    });
    await inner.ready();
    return inner;
  };
  app.addHook("onClose", async () => {
    const inner = await reference?.catch(() => undefined);
    await inner?.close();
  });
  const options = (operationId: string) => ({
    config: { access: publicAccess, securityHeaders: "docs" },
    schema: {
      operationId,
      summary: "Interactive API reference",
      tags: ["docs"],
      hide: true,
      response: { 200: z.string().describe("HTML page or its script"), 301: z.string() },
    },
  });
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    reference ??= load().catch((error: unknown) => {
      reference = undefined;
      throw error;
    });
    const answer = await (await reference).inject({ method: "GET", url: request.url });
    if (answer.statusCode === 404) {
      reply.callNotFound();
      return reply;
    }
    reply.code(answer.statusCode);
    for (const name of FORWARDED_HEADERS) {
      const value = answer.headers[name];
      if (typeof value === "string") reply.header(name, value);
    }
    return reply.send(answer.rawPayload);
  };
  app.get("/docs", options("getDocsPage"), handler);
  app.get("/docs/*", options("getDocsAsset"), handler);
}
