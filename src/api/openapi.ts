import swagger from "@fastify/swagger";
import scalar from "@scalar/fastify-api-reference";
import type { FastifyInstance, RouteOptions } from "fastify";
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
import { declareThirdPartyRoutes } from "../core/http/route-standards.js";

export interface OpenApiOptions {
  title: string;
  version: string;
  publicUrl: string;
}

const problemResponse = (description: string) => ({
  description,
  content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: "#/components/schemas/Problem" } } },
});

/**
 * The OpenAPI 3.1 document is generated from the route schemas themselves, so it cannot drift
 * from what the server validates. Every documented route also lists the problem responses it
 * can give and, unless public, the bearer-token requirement.
 */
export const openApiPlugin = fp<OpenApiOptions>(
  async (app: FastifyInstance, options) => {
    await app.register(swagger, {
      openapi: {
        openapi: "3.1.0",
        info: {
          title: options.title,
          version: options.version,
          description:
            "Multi-tenant SaaS API. Errors are RFC 9457 problem details (`application/problem+json`).",
        },
        servers: [{ url: options.publicUrl }],
        components: {
          securitySchemes: {
            bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
          },
        },
      },
      transform: (input) => {
        const output = jsonSchemaTransform(input);
        return {
          ...output,
          schema: withStandardResponses(output.schema as Record<string, unknown>, input.route),
        };
      },
      transformObject: createJsonSchemaTransformObject({ schemaRegistry: z.globalRegistry }),
    });
    // Keep the Problem schema registered even before any route references it.
    z.globalRegistry.get(problemSchema);

    app.withTypeProvider<ZodTypeProvider>().get(
      "/openapi.json",
      {
        config: { access: publicAccess },
        schema: {
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

function withStandardResponses(schema: Record<string, unknown>, route: RouteOptions) {
  const response = { ...((schema.response as Record<string, unknown> | undefined) ?? {}) };
  response["4XX"] ??= problemResponse("Client error (problem details; 422 lists field errors)");
  response["5XX"] ??= problemResponse("Server error (problem details with a traceId)");
  const isPublic = route.config?.access?.kind === "public";
  return { ...schema, response, ...(isPublic ? {} : { security: [{ bearerAuth: [] }] }) };
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

/** The interactive reference page at /docs (Scalar), reading /openapi.json. */
export async function docsPage(app: FastifyInstance): Promise<void> {
  declareThirdPartyRoutes(app, (route) => route.url?.startsWith("/docs") ?? false, {
    summary: "Interactive API reference",
    tags: ["docs"],
    response: { 200: z.string().describe("HTML page or its script"), 301: z.string() },
    access: publicAccess,
    config: { securityHeaders: "docs" },
  });
  await app.register(scalar, {
    routePrefix: "/docs",
    configuration: { url: "/openapi.json", pageTitle: "API reference" },
  });
}
