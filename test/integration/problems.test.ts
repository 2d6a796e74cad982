import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AppModule } from "../../src/app.js";
import { AppError } from "../../src/core/errors/index.js";
import { publicAccess, signedIn } from "../../src/core/http/access.js";
import { buildTestApp } from "../helpers/app.js";
import { expectProblem } from "../helpers/problems.js";

const ok = { 200: z.object({ ok: z.boolean() }) };
const tags = ["test"];

/** A module whose routes validate every request location and fail in every way. */
const problemsModule: AppModule = async (plain) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();

  app.post(
    "/things",
    {
      config: { access: publicAccess },
      schema: {
        summary: "Create a thing",
        tags,
        body: z.object({ name: z.string().min(1), size: z.number().int().optional() }),
        response: { 201: z.object({ name: z.string() }) },
      },
    },
    async (request, reply) => reply.code(201).send({ name: request.body.name }),
  );

  app.get(
    "/things/:id",
    {
      config: { access: publicAccess },
      schema: {
        summary: "Read a thing",
        tags,
        params: z.object({ id: z.uuid() }),
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).optional() }),
        response: { 200: z.object({ id: z.string(), limit: z.number() }) },
      },
    },
    async (request) => ({ id: request.params.id, limit: request.query.limit ?? 20 }),
  );

  app.get(
    "/versioned",
    {
      config: { access: publicAccess },
      schema: {
        summary: "Needs a version header",
        tags,
        headers: z.object({ "x-api-version": z.enum(["1", "2"]) }),
        response: ok,
      },
    },
    async () => ({ ok: true }),
  );

  app.get(
    "/range",
    {
      config: { access: publicAccess },
      schema: {
        summary: "A query checked as a whole",
        tags,
        querystring: z
          .object({ from: z.coerce.number(), to: z.coerce.number() })
          .refine((query) => query.from <= query.to, "from must not be after to"),
        response: ok,
      },
    },
    async () => ({ ok: true }),
  );

  app.get(
    "/boom/unique",
    {
      config: { access: publicAccess },
      schema: { summary: "Unique violation", tags, response: ok },
    },
    async () => {
      throw Object.assign(
        new Error('duplicate key value violates unique constraint "users_email_key"'),
        {
          code: "23505",
          severity: "ERROR",
          detail: "Key (email)=(alice@example.com) already exists.",
          schema: "public",
          table: "users",
          constraint: "users_email_key",
          routine: "_bt_check_unique",
        },
      );
    },
  );

  app.get(
    "/boom/crash",
    { config: { access: publicAccess }, schema: { summary: "Crashes", tags, response: ok } },
    async () => {
      throw new Error("secret internals at /some/path");
    },
  );

  app.get(
    "/boom/app-error",
    { config: { access: publicAccess }, schema: { summary: "AppError", tags, response: ok } },
    async () => {
      throw new AppError("forbidden", "You may not touch this thing.");
    },
  );

  app.get(
    "/boom/app-error-fields",
    { config: { access: publicAccess }, schema: { summary: "AppError+", tags, response: ok } },
    async () => {
      throw new AppError("validation-failed", "The thing is wrong.", {
        errors: [{ field: "name", message: "is taken" }],
        headers: { "retry-after": "7" },
      });
    },
  );

  app.get(
    "/boom/client-status",
    { config: { access: publicAccess }, schema: { summary: "Plugin 404", tags, response: ok } },
    async () => {
      throw Object.assign(new Error("plugin wording with /internal/path"), { statusCode: 404 });
    },
  );

  app.get(
    "/private",
    { config: { access: signedIn }, schema: { summary: "Signed in only", tags, response: ok } },
    async () => ({ ok: true }),
  );
};

/** Whatever the body says, it never leaks a stack trace. */
function expectNoStack(payload: string) {
  expect(payload).not.toMatch(/"stack"/);
  expect(payload).not.toMatch(/\bat .*\.(ts|js):\d+/);
  expect(payload).not.toContain("node_modules");
}

describe("problem responses", () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await buildTestApp({}, [problemsModule]);
  });
  afterAll(async () => {
    await app.close();
  });

  describe("validation (422)", () => {
    it("names each invalid body field without a prefix", async () => {
      const response = await app.inject({
        method: "POST",
        url: "/api/v1/things",
        payload: { name: "", size: 1.5 },
      });
      const body = expectProblem(response, "validation-failed", { instance: "/api/v1/things" });
      expect(body.errors).toEqual(
        expect.arrayContaining([
          { field: "name", message: expect.any(String) },
          { field: "size", message: expect.any(String) },
        ]),
      );
      expect(body.errors).toHaveLength(2);
    });

    it("names a missing body field", async () => {
      const response = await app.inject({ method: "POST", url: "/api/v1/things", payload: {} });
      const body = expectProblem(response, "validation-failed");
      expect(body.errors).toEqual([{ field: "name", message: expect.any(String) }]);
      expect(body.errors?.[0]?.message.length).toBeGreaterThan(0);
    });

    it("accepts a valid body", async () => {
      const response = await app.inject({
        method: "POST",
        url: "/api/v1/things",
        payload: { name: "lamp" },
      });
      expect(response.statusCode).toBe(201);
      expect(response.json()).toEqual({ name: "lamp" });
    });

    it('prefixes querystring fields with "query."', async () => {
      const response = await app.inject({
        method: "GET",
        url: "/api/v1/things/0190a6a0-8d2e-7c1b-9a3e-4f5b6c7d8e9f?limit=500",
      });
      const body = expectProblem(response, "validation-failed", {
        instance: "/api/v1/things/0190a6a0-8d2e-7c1b-9a3e-4f5b6c7d8e9f",
      });
      expect(body.errors).toEqual([{ field: "query.limit", message: expect.any(String) }]);
    });

    it('prefixes path parameters with "params."', async () => {
      const response = await app.inject({ method: "GET", url: "/api/v1/things/not-a-uuid" });
      const body = expectProblem(response, "validation-failed");
      expect(body.errors).toEqual([{ field: "params.id", message: expect.any(String) }]);
    });

    it('prefixes headers with "headers."', async () => {
      const response = await app.inject({
        method: "GET",
        url: "/api/v1/versioned",
        headers: { "x-api-version": "9" },
      });
      const body = expectProblem(response, "validation-failed");
      expect(body.errors).toEqual([
        { field: "headers.x-api-version", message: expect.any(String) },
      ]);

      const valid = await app.inject({
        method: "GET",
        url: "/api/v1/versioned",
        headers: { "x-api-version": "2" },
      });
      expect(valid.statusCode).toBe(200);
    });

    it('names a whole-query rule "query", not "query."', async () => {
      const response = await app.inject({ method: "GET", url: "/api/v1/range?from=5&to=1" });
      const body = expectProblem(response, "validation-failed");
      expect(body.errors).toEqual([{ field: "query", message: "from must not be after to" }]);
    });
  });

  describe("request body problems", () => {
    it("answers 400 malformed-json for a broken JSON body", async () => {
      const response = await app.inject({
        method: "POST",
        url: "/api/v1/things",
        headers: { "content-type": "application/json" },
        payload: '{"name": "lamp",',
      });
      const body = expectProblem(response, "malformed-json", { instance: "/api/v1/things" });
      expect(body.errors).toBeUndefined();
    });

    it("answers 400 for an empty body sent as JSON", async () => {
      const response = await app.inject({
        method: "POST",
        url: "/api/v1/things",
        headers: { "content-type": "application/json" },
        payload: "",
      });
      expectProblem(response, "malformed-json");
    });

    it("answers 400 for a JSON body that tries prototype poisoning", async () => {
      const response = await app.inject({
        method: "POST",
        url: "/api/v1/things",
        headers: { "content-type": "application/json" },
        payload: '{"__proto__": {"admin": true}, "name": "lamp"}',
      });
      expect(response.statusCode).toBe(400);
      expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
    });

    it("answers 415 for an XML body", async () => {
      const response = await app.inject({
        method: "POST",
        url: "/api/v1/things",
        headers: { "content-type": "application/xml" },
        payload: "<thing><name>lamp</name></thing>",
      });
      expectProblem(response, "unsupported-media-type", { instance: "/api/v1/things" });
    });

    it("answers 415 for a text/plain body (the API accepts JSON only)", async () => {
      const response = await app.inject({
        method: "POST",
        url: "/api/v1/things",
        headers: { "content-type": "text/plain" },
        payload: "name=lamp",
      });
      expectProblem(response, "unsupported-media-type");
    });
  });

  describe("routing", () => {
    it("answers 404 for an unknown route, inside and outside /api/v1", async () => {
      for (const url of ["/api/v1/nothing-here", "/nothing-here?x=1"]) {
        const response = await app.inject({ method: "GET", url });
        const body = expectProblem(response, "not-found", { instance: url.split("?")[0] });
        expect(response.headers.allow).toBeUndefined();
        expect(body.errors).toBeUndefined();
      }
    });

    it("answers 405 with Allow for a known path and the wrong method", async () => {
      const response = await app.inject({ method: "DELETE", url: "/api/v1/things" });
      expectProblem(response, "method-not-allowed", { instance: "/api/v1/things" });
      expect(response.headers.allow).toBe("POST");
    });

    it("lists GET and HEAD in Allow for a GET-only path", async () => {
      const response = await app.inject({ method: "POST", url: "/health/live", payload: {} });
      expectProblem(response, "method-not-allowed");
      const allow = String(response.headers.allow)
        .split(",")
        .map((method) => method.trim());
      expect(allow.sort()).toEqual(["GET", "HEAD"]);
    });

    it("matches parametrised paths for 405", async () => {
      const response = await app.inject({
        method: "PUT",
        url: "/api/v1/things/0190a6a0-8d2e-7c1b-9a3e-4f5b6c7d8e9f",
        payload: {},
      });
      expectProblem(response, "method-not-allowed");
      expect(String(response.headers.allow)).toContain("GET");
    });
  });

  it("answers 400 as a problem for a malformed URL", async () => {
    const response = await app.inject({ method: "GET", url: "/api/v1/things/%E0%A4%A" });
    const body = expectProblem(response, "bad-request");
    expect(body.traceId).toBe(response.headers["x-request-id"]);
    expect(response.body).not.toContain("FST_ERR");
  });

  describe("thrown errors", () => {
    it("turns a unique violation into 409 without the driver's text", async () => {
      const response = await app.inject({ method: "GET", url: "/api/v1/boom/unique" });
      const body = expectProblem(response, "conflict", { instance: "/api/v1/boom/unique" });
      for (const leak of [
        "duplicate key",
        "users_email_key",
        "alice@example.com",
        "Key (email)",
        "23505",
        "_bt_check_unique",
        "users",
      ]) {
        expect(response.body).not.toContain(leak);
      }
      expect(body.detail).not.toBe("");
      expectNoStack(response.body);
    });

    it("answers 500 with a generic detail and a traceId, hiding the message", async () => {
      const response = await app.inject({ method: "GET", url: "/api/v1/boom/crash" });
      const body = expectProblem(response, "internal-error", { instance: "/api/v1/boom/crash" });
      expect(response.body).not.toContain("secret internals");
      expect(response.body).not.toContain("/some/path");
      expectNoStack(response.body);
      expect(body.traceId).toBe(response.headers["x-request-id"]);
    });

    it("gives an AppError its catalog status and detail", async () => {
      const response = await app.inject({ method: "GET", url: "/api/v1/boom/app-error" });
      const body = expectProblem(response, "forbidden", { instance: "/api/v1/boom/app-error" });
      expect(body.detail).toBe("You may not touch this thing.");
      expect(body.errors).toBeUndefined();
    });

    it("carries an AppError's field errors and headers", async () => {
      const response = await app.inject({ method: "GET", url: "/api/v1/boom/app-error-fields" });
      const body = expectProblem(response, "validation-failed");
      expect(body.errors).toEqual([{ field: "name", message: "is taken" }]);
      expect(response.headers["retry-after"]).toBe("7");
    });

    it("keeps the status of a 4xx error raised by a plugin, not its wording", async () => {
      const response = await app.inject({ method: "GET", url: "/api/v1/boom/client-status" });
      expect(response.statusCode).toBe(404);
      expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect(response.json()).toMatchObject({ status: 404 });
      expect(response.body).not.toContain("plugin wording");
    });
  });

  describe("access control", () => {
    it("answers 401 with WWW-Authenticate for a non-public route without a principal", async () => {
      const response = await app.inject({ method: "GET", url: "/api/v1/private" });
      expectProblem(response, "unauthorized", { instance: "/api/v1/private" });
      expect(response.headers["www-authenticate"]).toMatch(/^Bearer\b/);
    });

    it("ignores a bearer token nobody verified", async () => {
      const response = await app.inject({
        method: "GET",
        url: "/api/v1/private",
        headers: { authorization: "Bearer made-up-token" },
      });
      expectProblem(response, "unauthorized");
    });
  });
});

describe("body size limit", () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await buildTestApp({ BODY_LIMIT_BYTES: "64" }, [problemsModule]);
  });
  afterAll(async () => {
    await app.close();
  });

  it("answers 413 for a body over BODY_LIMIT_BYTES", async () => {
    const response = await app.inject({
      method: "POST",
      url: "/api/v1/things",
      payload: { name: "x".repeat(100) },
    });
    const body = expectProblem(response, "payload-too-large", { instance: "/api/v1/things" });
    expect(body.errors).toBeUndefined();
  });

  it("still accepts a body under the limit", async () => {
    const response = await app.inject({
      method: "POST",
      url: "/api/v1/things",
      payload: { name: "lamp" },
    });
    expect(response.statusCode).toBe(201);
  });
});

describe("problem responses in development", () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    // LOG_PRETTY=false: a pretty transport would start a worker thread for nothing.
    app = await buildTestApp({ ENVIRONMENT: "development", LOG_PRETTY: "false" }, [problemsModule]);
  });
  afterAll(async () => {
    await app.close();
  });

  it("puts the error message into a 500's detail, still without a stack", async () => {
    const response = await app.inject({ method: "GET", url: "/api/v1/boom/crash" });
    const body = expectProblem(response, "internal-error");
    expect(body.detail).toBe("secret internals at /some/path");
    expectNoStack(response.body);
    expect(body.traceId).toBe(response.headers["x-request-id"]);
  });
});
