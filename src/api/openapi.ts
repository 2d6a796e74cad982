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
  const options = {
    config: { access: publicAccess, securityHeaders: "docs" },
    schema: {
      summary: "Interactive API reference",
      tags: ["docs"],
      hide: true,
      response: { 200: z.string().describe("HTML page or its script"), 301: z.string() },
    },
  };
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
  app.get("/docs", options, handler);
  app.get("/docs/*", options, handler);
}
