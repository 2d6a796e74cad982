import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AppModule } from "../../src/app.js";
import { publicAccess, signedIn } from "../../src/core/http/access.js";
import { buildTestApp } from "../helpers/app.js";
import { expectProblem } from "../helpers/problems.js";

const tags = ["things"];

/** One public parametrised route and one that needs a signed-in user. */
const thingsModule: AppModule = async (plain) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  app.get(
    "/things/:id",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "readThing",
        summary: "Read a thing",
        tags,
        params: z.object({ id: z.string() }),
        response: { 200: z.object({ id: z.string() }) },
      },
    },
    async (request) => ({ id: request.params.id }),
  );
  app.post(
    "/things",
    {
      config: { access: signedIn },
      schema: {
        operationId: "createThing",
        summary: "Create a thing",
        tags,
        body: z.object({ name: z.string() }),
        response: { 201: z.object({ id: z.string() }) },
      },
    },
    async (_request, reply) => reply.code(201).send({ id: "new" }),
  );
};

/** The samples of one metric, as lines of the exposition format. */
const samplesOf = (text: string, metric: string) =>
  text.split("\n").filter((line) => line.startsWith(`${metric}{`) || line.startsWith(`${metric} `));

describe("metrics", () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await buildTestApp({}, [thingsModule]);
  });
  afterAll(async () => {
    await app.close();
  });

  it("exposes Prometheus text with request durations by route template", async () => {
    await app.inject({ method: "GET", url: "/health/live" });
    await app.inject({ method: "GET", url: "/api/v1/things/raw-id-8f3a91" });
    await app.inject({ method: "GET", url: "/api/v1/things/raw-id-77c2e0?x=1" });
    await app.inject({ method: "GET", url: "/no/such/route-5d1e" });

    const response = await app.inject({ method: "GET", url: "/metrics" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^text\/plain/);
    const text = response.body;

    const durations = samplesOf(text, "http_request_duration_seconds_count");
    expect(durations).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/route="\/health\/live"/),
        expect.stringMatching(/route="\/api\/v1\/things\/:id"/),
        expect.stringMatching(/route="unmatched"/),
      ]),
    );
    const things = durations.find(
      (line) => line.includes('route="/api/v1/things/:id"') && line.includes('status_code="200"'),
    );
    expect(things).toMatch(/method="GET"/);
    expect(things).toMatch(/ 2$/);
    expect(text).toContain("# TYPE http_request_duration_seconds histogram");
    expect(text).not.toContain("raw-id-");
    expect(text).not.toContain("route-5d1e");
  });

  it("counts requests in flight, and exports process and event-loop metrics", async () => {
    const text = (await app.inject({ method: "GET", url: "/metrics" })).body;
    expect(text).toContain("# TYPE http_requests_in_flight gauge");
    // The scrape itself is the only request being served.
    expect(samplesOf(text, "http_requests_in_flight")).toEqual(["http_requests_in_flight 1"]);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^process_\w+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it("keeps a separate registry per app", async () => {
    const other = await buildTestApp();
    try {
      const text = (await other.inject({ method: "GET", url: "/metrics" })).body;
      expect(text).not.toContain("/api/v1/things/:id");
    } finally {
      await other.close();
    }
  });
});

describe("metrics behind a token", () => {
  const token = "scrape-token-4b8e2f9a";
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await buildTestApp({ METRICS_TOKEN: token });
  });
  afterAll(async () => {
    await app.close();
  });

  it("answers 401 without a token", async () => {
    const response = await app.inject({ method: "GET", url: "/metrics" });
    expectProblem(response, "unauthorized", { instance: "/metrics" });
    expect(response.body).not.toContain("http_request_duration_seconds");
  });

  it.each([
    ["a wrong token", `Bearer ${token}x`],
    ["a token of the wrong length", "Bearer nope"],
    ["the token without the Bearer scheme", token],
    ["a Basic header", `Basic ${Buffer.from(`user:${token}`).toString("base64")}`],
  ])("answers 401 for %s", async (_case, authorization) => {
    const response = await app.inject({
      method: "GET",
      url: "/metrics",
      headers: { authorization },
    });
    expectProblem(response, "unauthorized");
  });

  it("answers 200 with the right bearer token", async () => {
    const response = await app.inject({
      method: "GET",
      url: "/metrics",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain("http_request_duration_seconds");
  });
});

interface OpenApiOperation {
  summary?: string;
  tags?: string[];
  security?: unknown;
  responses?: Record<string, unknown>;
}
interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

describe("OpenAPI document and docs page", () => {
  let app: FastifyInstance;
  let document: OpenApiDocument;

  beforeAll(async () => {
    app = await buildTestApp({}, [thingsModule]);
    const response = await app.inject({ method: "GET", url: "/openapi.json" });
    expect(response.statusCode).toBe(200);
    document = response.json<OpenApiDocument>();
  });
  afterAll(async () => {
    await app.close();
  });

  const operation = (path: string, method: string): OpenApiOperation => {
    const found = document.paths[path]?.[method];
    if (!found) throw new Error(`${method.toUpperCase()} ${path} is not in the OpenAPI document`);
    return found;
  };

  it("is OpenAPI 3.1.0 with a bearer scheme and the Problem schema", () => {
    expect(document.openapi).toBe("3.1.0");
    expect(document.info.title).toEqual(expect.any(String));
    expect(document.components.securitySchemes.bearerAuth).toMatchObject({
      type: "http",
      scheme: "bearer",
    });
    expect(document.components.schemas.Problem).toMatchObject({
      type: "object",
      required: expect.arrayContaining([
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "traceId",
      ]),
    });
  });

  it.each([
    ["/health/live", "health"],
    ["/health/ready", "health"],
    ["/info", "health"],
    ["/metrics", "system"],
    ["/openapi.json", "docs"],
  ])("documents GET %s with a summary and tags, as public", (path, tag) => {
    const get = operation(path, "get");
    expect(get.summary?.trim()).toBeTruthy();
    expect(get.tags).toContain(tag);
    expect(get.security).toEqual([]);
  });

  it("documents module routes with OpenAPI path templates", () => {
    const read = operation("/api/v1/things/{id}", "get");
    expect(read).toMatchObject({ summary: "Read a thing", tags: ["things"] });
    expect(read.security).toEqual([]);
    const create = operation("/api/v1/things", "post");
    expect(create).toMatchObject({ summary: "Create a thing", tags: ["things"] });
  });

  it("requires the bearer token on non-public routes only", () => {
    expect(operation("/api/v1/things", "post").security).toEqual([{ bearerAuth: [] }]);
    expect(operation("/api/v1/things/{id}", "get").security).toEqual([]);
  });

  it("lists problem responses referring to the Problem schema", () => {
    const responses = operation("/api/v1/things", "post").responses ?? {};
    for (const status of ["400", "401", "403", "413", "415", "422", "429", "500", "503", "4XX"]) {
      expect(JSON.stringify(responses[status]), status).toContain("#/components/schemas/Problem");
    }
    expect(Object.keys(responses)).toContain("201");
  });

  it("serves an HTML reference page at /docs whose script loads", async () => {
    let page = await app.inject({ method: "GET", url: "/docs" });
    if (page.statusCode === 301 || page.statusCode === 302) {
      const location = String(page.headers.location);
      expect(location).toMatch(/^\/docs/);
      page = await app.inject({ method: "GET", url: location });
    }
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.body).toMatch(/<html/i);
    expect(page.body).toContain("/openapi.json");

    const scripts = [...page.body.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const src of scripts) {
      const url = new URL(String(src), "http://localhost/docs/").pathname;
      const script = await app.inject({ method: "GET", url });
      expect(script.statusCode, url).toBe(200);
      expect(script.headers["content-type"]).toMatch(/javascript/);
      expect(script.body.length).toBeGreaterThan(1000);
    }
  });

  it("lets the docs page run its own scripts", async () => {
    const page = await app.inject({ method: "GET", url: "/docs/" });
    const csp = String(page.headers["content-security-policy"]);
    const directive = (name: string) =>
      csp
        .split(";")
        .map((part) => part.trim())
        .find((part) => part.startsWith(`${name} `));
    const scriptSrc = directive("script-src") ?? directive("default-src");
    expect(scriptSrc).toContain("'self'");
    expect(directive("connect-src") ?? directive("default-src")).toContain("'self'");
  });
});

describe("security headers and CORS", () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await buildTestApp();
  });
  afterAll(async () => {
    await app.close();
  });

  it("sets helmet's headers and a CSP that allows nothing on API answers and problems", async () => {
    for (const url of ["/health/live", "/no-such-route"]) {
      const response = await app.inject({ method: "GET", url });
      expect(response.headers["x-content-type-options"]).toBe("nosniff");
      // Nothing but 'none': no source a JSON answer could load from.
      expect(response.headers["content-security-policy"]).toBe(
        "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
      );
      expect(response.headers["x-frame-options"]).toBe("DENY");
      expect(response.headers["x-powered-by"]).toBeUndefined();
    }
  });

  it("answers a pre-flight from an allowed origin with credentials", async () => {
    const response = await app.inject({
      method: "OPTIONS",
      url: "/api/v1/anything",
      headers: {
        origin: "http://localhost:3000",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    expect(response.statusCode).toBe(204);
    expect(response.headers["access-control-allow-origin"]).toBe("http://localhost:3000");
    expect(response.headers["access-control-allow-credentials"]).toBe("true");
    expect(String(response.headers["access-control-allow-methods"])).toContain("POST");
    expect(String(response.headers.vary)).toMatch(/Origin/);
  });

  it("gives no allow-origin to an origin not in the list", async () => {
    for (const origin of ["http://evil.example", "http://localhost:3000.evil.example"]) {
      const preflight = await app.inject({
        method: "OPTIONS",
        url: "/health/live",
        headers: { origin, "access-control-request-method": "GET" },
      });
      expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
      const simple = await app.inject({ method: "GET", url: "/health/live", headers: { origin } });
      expect(simple.headers["access-control-allow-origin"]).toBeUndefined();
    }
  });

  it("echoes an allowed origin on simple requests", async () => {
    const response = await app.inject({
      method: "GET",
      url: "/health/live",
      headers: { origin: "http://localhost:3000" },
    });
    expect(response.headers["access-control-allow-origin"]).toBe("http://localhost:3000");
    expect(response.headers["access-control-allow-credentials"]).toBe("true");
  });

  it("honours CORS_ORIGINS", async () => {
    const custom = await buildTestApp({ CORS_ORIGINS: "https://app.example.com" });
    try {
      const allowed = await custom.inject({
        method: "OPTIONS",
        url: "/health/live",
        headers: { origin: "https://app.example.com", "access-control-request-method": "GET" },
      });
      expect(allowed.headers["access-control-allow-origin"]).toBe("https://app.example.com");
      const old = await custom.inject({
        method: "OPTIONS",
        url: "/health/live",
        headers: { origin: "http://localhost:3000", "access-control-request-method": "GET" },
      });
      expect(old.headers["access-control-allow-origin"]).toBeUndefined();
    } finally {
      await custom.close();
    }
  });
});
