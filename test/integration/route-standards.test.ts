import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AppModule } from "../../src/app.js";
import { publicAccess, signedIn } from "../../src/core/http/access.js";
import { requirePermission } from "../../src/core/permissions/index.js";
import { buildTestApp } from "../helpers/app.js";

const response = { 200: z.object({ ok: z.boolean() }) };

/** A readable operationId of its own for each test route: `getFirst`, `deleteThirdId`. */
const operationIdOf = (method: string, url: string) =>
  method.toLowerCase() +
  url
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word[0]?.toUpperCase() + word.slice(1))
    .join("");

/** A module of routes, each fully declared except for what its `omit` names. */
function moduleWith(
  routes: { method: "GET" | "POST" | "DELETE"; url: string; omit?: string }[],
): AppModule {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    for (const { method, url, omit } of routes) {
      const schema: Record<string, unknown> = {
        operationId: operationIdOf(method, url),
        summary: "A route",
        tags: ["test"],
        response,
      };
      if (omit && omit in schema) delete schema[omit];
      app.route({
        method,
        url,
        schema,
        config: omit === "access" ? {} : { access: publicAccess },
        handler: async () => ({ ok: true }),
      });
    }
  };
}

describe("route standards", () => {
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  /** Builds an app that is expected to fail, and closes it if it unexpectedly does not. */
  async function buildError(module: AppModule): Promise<Error> {
    try {
      apps.push(await buildTestApp({}, [module]));
    } catch (error) {
      return error as Error;
    }
    throw new Error("createApp accepted routes that break the route standards");
  }

  it.each([
    ["operationId", /an operationId/],
    ["summary", /a summary/],
    ["tags", /tags/],
    ["response", /a response schema/],
    ["access", /access declaration.*security/],
  ])("rejects a route without %s and names it", async (omit, reason) => {
    const error = await buildError(moduleWith([{ method: "POST", url: "/widgets", omit }]));
    expect(error.message).toContain("POST /api/v1/widgets");
    expect(error.message).toMatch(reason);
  });

  it("rejects empty summaries, tags and response maps", async () => {
    const module: AppModule = async (app) => {
      app.get(
        "/hollow",
        {
          config: { access: publicAccess },
          schema: { operationId: " ", summary: "  ", tags: [], response: {} },
        },
        async () => ({ ok: true }),
      );
    };
    const error = await buildError(module);
    expect(error.message).toContain("GET /api/v1/hollow");
    expect(error.message).toMatch(/an operationId/);
    expect(error.message).toMatch(/a summary/);
    expect(error.message).toMatch(/tags/);
    expect(error.message).toMatch(/a response schema/);
  });

  it("names every offending route in one error", async () => {
    const error = await buildError(
      moduleWith([
        { method: "GET", url: "/first", omit: "summary" },
        { method: "POST", url: "/second", omit: "tags" },
        { method: "DELETE", url: "/third/:id", omit: "access" },
        { method: "GET", url: "/fine" },
      ]),
    );
    expect(error.message).toContain("GET /api/v1/first");
    expect(error.message).toContain("POST /api/v1/second");
    expect(error.message).toContain("DELETE /api/v1/third/:id");
    expect(error.message).not.toContain("/api/v1/fine");
  });

  it("rejects a shorthand route with no options at all, listing everything it lacks", async () => {
    const bare: AppModule = async (app) => {
      app.get("/undeclared", async () => "hi");
    };
    const error = await buildError(bare);
    expect(error.message).toContain("GET /api/v1/undeclared");
    for (const reason of [
      /an operationId/,
      /a summary/,
      /tags/,
      /a response schema/,
      /access declaration/,
      /security/,
    ]) {
      expect(error.message).toMatch(reason);
    }
  });

  /** A module of one route declared by `options`, besides a handler. */
  const routeWith =
    (method: "GET" | "POST", url: string, options: Record<string, unknown>): AppModule =>
    async (app) => {
      app.route({ method, url, handler: async () => ({ ok: true }), ...options });
    };
  const declared = (operationId: string, schema: Record<string, unknown> = {}) => ({
    operationId,
    summary: "A route",
    tags: ["test"],
    response,
    ...schema,
  });

  it("rejects an operationId used twice, naming both routes", async () => {
    const error = await buildError(async (app) => {
      await routeWith("GET", "/one", {
        config: { access: publicAccess },
        schema: declared("getThing"),
      })(app, {} as never);
      await routeWith("GET", "/two", {
        config: { access: publicAccess },
        schema: declared("getThing"),
      })(app, {} as never);
    });
    expect(error.message).toMatch(
      /operationId "getThing" is used by GET \/api\/v1\/one and GET \/api\/v1\/two/,
    );
  });

  it("rejects an operationId that is not camelCase", async () => {
    const error = await buildError(
      routeWith("GET", "/snake", {
        config: { access: publicAccess },
        schema: declared("get_snake"),
      }),
    );
    expect(error.message).toMatch(/GET \/api\/v1\/snake has operationId "get_snake"/);
  });

  it.each([
    ["a public route requiring the bearer token", publicAccess, [{ bearerAuth: [] }], /public/],
    ["a signed-in route declaring no security", signedIn, [], /does not require bearerAuth/],
    [
      "a permission route that also accepts no credential",
      requirePermission("notes", "read"),
      [{ bearerAuth: [] }, {}],
      /does not require bearerAuth/,
    ],
  ])("rejects %s", async (_, access, security, reason) => {
    const error = await buildError(
      routeWith("GET", "/secured", {
        config: { access },
        schema: declared("getSecured", { security }),
      }),
    );
    expect(error.message).toContain("GET /api/v1/secured declares security");
    expect(error.message).toMatch(reason);
  });

  it("rejects an error status answered without the Problem schema", async () => {
    const error = await buildError(
      routeWith("GET", "/things/:id", {
        config: { access: publicAccess },
        schema: declared("getThing", {
          params: z.object({ id: z.uuid() }),
          response: { 200: response[200], 404: z.object({ missing: z.boolean() }) },
        }),
      }),
    );
    expect(error.message).toMatch(
      /GET \/api\/v1\/things\/:id answers 404 without the Problem schema/,
    );
  });

  it("rejects a route whose derived problem responses were taken away", async () => {
    const error = await buildError(async (app) => {
      // A hook after the kit's, as a careless plugin could add, replacing the response map.
      app.addHook("onRoute", (route) => {
        if (route.url === "/api/v1/stripped") route.schema = { ...route.schema, response };
      });
      await routeWith("GET", "/stripped", {
        config: { access: signedIn },
        schema: declared("getStripped"),
      })(app, {} as never);
    });
    expect(error.message).toMatch(
      /GET \/api\/v1\/stripped documents no problem response for 401, 403, 429, 500, 503/,
    );
  });

  it("rejects a name used in two inputs, which a field error could not tell apart", async () => {
    const error = await buildError(
      routeWith("POST", "/things/:id", {
        config: { access: publicAccess },
        schema: declared("renameThing", {
          params: z.object({ id: z.uuid() }),
          body: z.object({ id: z.string(), name: z.string() }),
        }),
      }),
    );
    expect(error.message).toMatch(/POST \/api\/v1\/things\/:id uses id in more than one/);
  });

  it("accepts a fully declared route and serves it", async () => {
    const app = await buildTestApp({}, [moduleWith([{ method: "GET", url: "/widgets" }])]);
    apps.push(app);
    const answer = await app.inject({ method: "GET", url: "/api/v1/widgets" });
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toEqual({ ok: true });
  });

  it("builds the kit's own app: every built-in route meets the standards", async () => {
    const app = await buildTestApp();
    apps.push(app);
    // Every built-in route is reachable, which shows it was registered and therefore checked.
    for (const url of ["/health/live", "/health/ready", "/info", "/metrics", "/openapi.json"]) {
      const answer = await app.inject({ method: "GET", url });
      expect(answer.statusCode, url).toBe(200);
    }
    const docs = await app.inject({ method: "GET", url: "/docs" });
    expect([200, 301, 302]).toContain(docs.statusCode);
    const preflight = await app.inject({
      method: "OPTIONS",
      url: "/health/live",
      headers: { origin: "http://localhost:3000", "access-control-request-method": "GET" },
    });
    expect(preflight.statusCode).toBe(204);
  });
});
