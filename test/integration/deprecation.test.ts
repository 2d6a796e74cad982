import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { clientTypesOf } from "../../scripts/lib/client/generate.js";
import type { AppModule } from "../../src/app.js";
import { publicAccess } from "../../src/core/http/access.js";
import type { RouteDeprecation } from "../../src/core/http/route-docs.js";
import { buildTestApp } from "../helpers/app.js";

/**
 * A deprecated route announces itself: Deprecation (RFC 9745) and Sunset (RFC 8594) headers on
 * every answer, `deprecated: true` and a notice in its operation, and a metric of its calls.
 */

const SINCE = "2025-06-30T00:00:00Z";
const SUNSET = "2026-01-31";
const LINK = "https://docs.example.com/changes/widgets-v2";

const widgets = z.object({ widgets: z.array(z.string()) });

function widgetsModule(deprecation: RouteDeprecation): AppModule {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const declared = {
      summary: "List widgets",
      description: "The widgets, at most `limit`.",
      tags: ["widgets"],
      querystring: z.object({ limit: z.coerce.number().int().min(1).max(10).default(3) }),
      response: { 200: widgets },
    };
    const handler = async (request: { query: { limit: number } }) => ({
      widgets: ["a", "b", "c"].slice(0, request.query.limit),
    });
    app.get(
      "/legacy-widgets",
      {
        config: { access: publicAccess, deprecation },
        schema: { operationId: "listLegacyWidgets", ...declared },
      },
      handler,
    );
    app.get(
      "/widgets",
      { config: { access: publicAccess }, schema: { operationId: "listWidgets", ...declared } },
      handler,
    );
  };
}

interface Operation {
  deprecated?: boolean;
  description?: string;
  responses: Record<string, { headers?: Record<string, { $ref: string }> }>;
}

describe("a deprecated route", () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp({}, [
      widgetsModule({
        since: SINCE,
        sunset: SUNSET,
        link: LINK,
        replacement: "GET /api/v1/widgets",
      }),
    ]);
  });
  afterAll(async () => {
    await app.close();
  });

  it("answers with Deprecation, Sunset and Link, errors included; others do not", async () => {
    const ok = await app.inject({ url: "/api/v1/legacy-widgets?limit=2" });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ widgets: ["a", "b"] });
    expect(ok.headers.deprecation).toBe(`@${Date.parse(SINCE) / 1000}`);
    expect(ok.headers.deprecation).toBe("@1751241600");
    expect(ok.headers.sunset).toBe("Sat, 31 Jan 2026 00:00:00 GMT");
    expect(ok.headers.link).toBe(`<${LINK}>; rel="deprecation"; type="text/html"`);

    const invalid = await app.inject({ url: "/api/v1/legacy-widgets?limit=99" });
    expect(invalid.statusCode).toBe(422);
    expect(invalid.headers.deprecation).toBe("@1751241600");
    expect(invalid.headers.sunset).toBe("Sat, 31 Jan 2026 00:00:00 GMT");

    const current = await app.inject({ url: "/api/v1/widgets" });
    expect(current.statusCode).toBe(200);
    expect(current.headers.deprecation).toBeUndefined();
    expect(current.headers.sunset).toBeUndefined();
    expect(current.headers.link).toBeUndefined();
  });

  it("is deprecated in the document, with its headers and a notice the reference page shows", async () => {
    const document = (await app.inject({ url: "/openapi.json" })).json<{
      paths: Record<string, { get: Operation }>;
      components: { headers: Record<string, { required?: boolean; description: string }> };
    }>();
    const legacy = document.paths["/api/v1/legacy-widgets"]?.get as Operation;
    expect(legacy.deprecated).toBe(true);
    expect(legacy.description).toBe(
      `The widgets, at most \`limit\`.\n\n**Deprecated** since 2025-06-30; it stops working after 2026-01-31. Use \`GET /api/v1/widgets\` instead. See ${LINK}.`,
    );
    for (const [status, response] of Object.entries(legacy.responses)) {
      expect(response.headers?.Deprecation, status).toEqual({
        $ref: "#/components/headers/Deprecation",
      });
      expect(response.headers?.Sunset, status).toEqual({ $ref: "#/components/headers/Sunset" });
      expect(response.headers?.Link, status).toEqual({
        $ref: "#/components/headers/DeprecationLink",
      });
    }
    expect(document.components.headers.Deprecation?.required).toBe(true);

    const current = document.paths["/api/v1/widgets"]?.get as Operation;
    expect(current.deprecated).toBeUndefined();
    expect(current.responses["200"]?.headers?.Deprecation).toBeUndefined();

    // The TypeScript client's types mark it, so editors strike its calls through.
    const types = await clientTypesOf(document);
    const markedDeprecated = (operationId: string) =>
      new RegExp(`@deprecated(?:(?!\\*/)[\\s\\S])*\\*/\\s*get: operations\\["${operationId}"\\]`);
    expect(types).toMatch(markedDeprecated("listLegacyWidgets"));
    expect(types).not.toMatch(markedDeprecated("listWidgets"));
  });

  it("counts its calls by route and method in the metrics", async () => {
    const counted = async () => {
      const text = (await app.inject({ url: "/metrics" })).body;
      const line = text
        .split("\n")
        .find((each) =>
          each.startsWith(
            'http_deprecated_requests_total{method="GET",route="/api/v1/legacy-widgets"}',
          ),
        );
      return Number(line?.split(" ").pop() ?? 0);
    };
    const before = await counted();
    await app.inject({ url: "/api/v1/legacy-widgets" });
    await app.inject({ url: "/api/v1/legacy-widgets?limit=0" });
    await app.inject({ url: "/api/v1/widgets" });
    expect(await counted()).toBe(before + 2);
    const text = (await app.inject({ url: "/metrics" })).body;
    expect(text).not.toContain('route="/api/v1/widgets"}');
  });
});

describe("a deprecation without a sunset date", () => {
  it("sends Deprecation alone and documents no Sunset", async () => {
    const app = await buildTestApp({}, [widgetsModule({ since: "2030-01-01" })]);
    try {
      const answer = await app.inject({ url: "/api/v1/legacy-widgets" });
      expect(answer.headers.deprecation).toBe(`@${Date.UTC(2030, 0, 1) / 1000}`);
      expect(answer.headers.sunset).toBeUndefined();
      expect(answer.headers.link).toBeUndefined();
      const document = (await app.inject({ url: "/openapi.json" })).json<{
        paths: Record<string, { get: Operation }>;
      }>();
      const legacy = document.paths["/api/v1/legacy-widgets"]?.get as Operation;
      expect(legacy.deprecated).toBe(true);
      expect(legacy.responses["200"]?.headers?.Sunset).toBeUndefined();
      expect(legacy.description).toMatch(/\*\*Deprecated\*\* since 2030-01-01\.$/);
    } finally {
      await app.close();
    }
  });
});

describe("the route standards", () => {
  it.each([
    [{ since: "last spring" }, /deprecation\.since "last spring" is not an ISO 8601 date/],
    [{ since: "2025-06-30", sunset: "2025-06-01" }, /sunset is not after deprecation\.since/],
    [{ since: "2025-06-30", sunset: "soon" }, /deprecation\.sunset "soon" is not/],
    [{ since: "2025-06-30", link: "/changes" }, /deprecation\.link "\/changes" is not an absolute/],
  ])("refuse the deprecation %j", async (deprecation, reason) => {
    const error = await buildTestApp({}, [widgetsModule(deprecation)]).then(
      async (app) => {
        await app.close();
        throw new Error("createApp accepted a broken deprecation");
      },
      (refused: Error) => refused,
    );
    expect(error.message).toContain("GET /api/v1/legacy-widgets");
    expect(error.message).toMatch(reason);
  });
});
