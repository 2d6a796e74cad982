import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AppModule } from "../../src/app.js";
import { publicAccess } from "../../src/core/http/access.js";
import { buildTestApp } from "../helpers/app.js";

const response = { 200: z.object({ ok: z.boolean() }) };

/** A module of routes, each fully declared except for what its `omit` names. */
function moduleWith(
  routes: { method: "GET" | "POST" | "DELETE"; url: string; omit?: string }[],
): AppModule {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    for (const { method, url, omit } of routes) {
      const schema: Record<string, unknown> = { summary: "A route", tags: ["test"], response };
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
    ["summary", /a summary/],
    ["tags", /tags/],
    ["response", /a response schema/],
    ["access", /access declaration/],
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
          schema: { summary: "  ", tags: [], response: {} },
        },
        async () => ({ ok: true }),
      );
    };
    const error = await buildError(module);
    expect(error.message).toContain("GET /api/v1/hollow");
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
    for (const reason of [/a summary/, /tags/, /a response schema/, /access declaration/]) {
      expect(error.message).toMatch(reason);
    }
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
