import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AppModule } from "../../src/app.js";
import { type Db, memberships, newId, users } from "../../src/core/database/index.js";
import { AppError } from "../../src/core/errors/index.js";
import { publicAccess, signedIn } from "../../src/core/http/access.js";
import { buildTestApp } from "../helpers/app.js";
import { randomAddress } from "../helpers/auth.js";
import { buildLoggedTestApp, type LogCapture } from "../helpers/log-capture.js";
import { expectProblem, type ProblemBody } from "../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext, type TestTenant } from "../helpers/tenancy.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

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
        operationId: "createAThing",
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
        operationId: "readAThing",
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
        operationId: "needsAVersionHeader",
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
        operationId: "aQueryCheckedAsAWhole",
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
      schema: { operationId: "uniqueViolation", summary: "Unique violation", tags, response: ok },
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
    {
      config: { access: publicAccess },
      schema: { operationId: "crashes", summary: "Crashes", tags, response: ok },
    },
    async () => {
      throw new Error("secret internals at /some/path");
    },
  );

  app.get(
    "/boom/app-error",
    {
      config: { access: publicAccess },
      schema: { operationId: "apperror", summary: "AppError", tags, response: ok },
    },
    async () => {
      throw new AppError("forbidden", "You may not touch this thing.");
    },
  );

  app.get(
    "/boom/app-error-fields",
    {
      config: { access: publicAccess },
      schema: { operationId: "apperror2", summary: "AppError+", tags, response: ok },
    },
    async () => {
      throw new AppError("validation-failed", "The thing is wrong.", {
        errors: [{ field: "name", message: "is taken" }],
        headers: { "retry-after": "7" },
      });
    },
  );

  app.get(
    "/boom/client-status",
    {
      config: { access: publicAccess },
      schema: { operationId: "plugin404", summary: "Plugin 404", tags, response: ok },
    },
    async () => {
      throw Object.assign(new Error("plugin wording with /internal/path"), { statusCode: 404 });
    },
  );

  app.post(
    "/notes/:key",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "anyStringsInEveryLocation",
        summary: "Any strings, in every location",
        tags,
        params: z.object({ key: z.string() }),
        querystring: z.object({ q: z.string().optional() }),
        body: z.looseObject({
          text: z.string(),
          lines: z.array(z.object({ text: z.string() })).optional(),
        }),
        response: ok,
      },
    },
    async () => ({ ok: true }),
  );

  app.get(
    "/private",
    {
      config: { access: signedIn },
      schema: { operationId: "signedInOnly", summary: "Signed in only", tags, response: ok },
    },
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
    it("names each invalid body field by its path alone", async () => {
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

    it("names a query parameter by its name alone, as it names body fields", async () => {
      const response = await app.inject({
        method: "GET",
        url: "/api/v1/things/0190a6a0-8d2e-7c1b-9a3e-4f5b6c7d8e9f?limit=500",
      });
      const body = expectProblem(response, "validation-failed", {
        instance: "/api/v1/things/0190a6a0-8d2e-7c1b-9a3e-4f5b6c7d8e9f",
      });
      expect(body.errors).toEqual([{ field: "limit", message: expect.any(String) }]);
    });

    it("names a path parameter by its name alone", async () => {
      const response = await app.inject({ method: "GET", url: "/api/v1/things/not-a-uuid" });
      const body = expectProblem(response, "validation-failed");
      expect(body.errors).toEqual([{ field: "id", message: expect.any(String) }]);
    });

    it("names a header by its lower-case name alone", async () => {
      const response = await app.inject({
        method: "GET",
        url: "/api/v1/versioned",
        headers: { "x-api-version": "9" },
      });
      const body = expectProblem(response, "validation-failed");
      expect(body.errors).toEqual([{ field: "x-api-version", message: expect.any(String) }]);

      const valid = await app.inject({
        method: "GET",
        url: "/api/v1/versioned",
        headers: { "x-api-version": "2" },
      });
      expect(valid.statusCode).toBe(200);
    });

    it("names a rule on a whole input with the empty path", async () => {
      const response = await app.inject({ method: "GET", url: "/api/v1/range?from=5&to=1" });
      const body = expectProblem(response, "validation-failed");
      expect(body.errors).toEqual([{ field: "", message: "from must not be after to" }]);
    });
  });

  describe("strings PostgreSQL cannot store (422, on every route)", () => {
    const NUL = "a\u0000b";

    it.each([
      ["a body field", { text: NUL }, "text"],
      [
        "a nested body field",
        { text: "ok", lines: [{ text: "ok" }, { text: NUL }] },
        "lines.1.text",
      ],
      ["a field the schema does not know", { text: "ok", extra: { deep: [NUL] } }, "extra.deep.0"],
    ])("refuses a NUL in %s, naming it", async (_, payload, field) => {
      const response = await app.inject({ method: "POST", url: "/api/v1/notes/k", payload });
      const body = expectProblem(response, "validation-failed", { instance: "/api/v1/notes/k" });
      expect(body.errors).toEqual([{ field, message: "must not contain U+0000 (NUL)" }]);
    });

    it("refuses a NUL in the query string and in a path parameter", async () => {
      const query = await app.inject({
        method: "POST",
        url: "/api/v1/notes/k?q=a%00b",
        payload: { text: "ok" },
      });
      expect(expectProblem(query, "validation-failed").errors).toEqual([
        { field: "q", message: "must not contain U+0000 (NUL)" },
      ]);
      const params = await app.inject({
        method: "POST",
        url: "/api/v1/notes/a%00b",
        payload: { text: "ok" },
      });
      expect(expectProblem(params, "validation-failed").errors).toEqual([
        { field: "key", message: "must not contain U+0000 (NUL)" },
      ]);
    });

    it("names a field whose own name holds a NUL without echoing the NUL", async () => {
      const response = await app.inject({
        method: "POST",
        url: "/api/v1/notes/k",
        headers: { "content-type": "application/json" },
        payload: '{"text": "ok", "bad\\u0000key": 1}',
      });
      const body = expectProblem(response, "validation-failed");
      expect(body.errors).toEqual([
        { field: "bad\\u0000key", message: "is a field name that must not contain U+0000 (NUL)" },
      ]);
    });

    it("refuses an unpaired surrogate and accepts a paired one", async () => {
      for (const lone of ["\\ud800", "x\\udfff"]) {
        const response = await app.inject({
          method: "POST",
          url: "/api/v1/notes/k",
          headers: { "content-type": "application/json" },
          payload: `{"text": "${lone}"}`,
        });
        expect(expectProblem(response, "validation-failed").errors).toEqual([
          { field: "text", message: "must not contain an unpaired UTF-16 surrogate" },
        ]);
      }
      const paired = await app.inject({
        method: "POST",
        url: "/api/v1/notes/k",
        headers: { "content-type": "application/json" },
        payload: '{"text": "\\ud83d\\ude80 launch"}',
      });
      expect(paired.statusCode, paired.body).toBe(200);
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
    // LOG_PRETTY=false: the logs are silent, so pretty formatting would load pino-pretty for nothing.
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

/** Routes that make PostgreSQL refuse a statement built by the query builder, uncaught. */
const databaseErrorsModule: AppModule = async (plain, { database }) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  const route = (url: string, run: (db: Db) => Promise<unknown>) =>
    app.post(
      url,
      {
        config: { access: publicAccess },
        // One readable operationId for each route, from its URL.
        schema: {
          operationId: url
            .split(/[^a-z0-9]+/i)
            .filter(Boolean)
            .map((word, index) => (index === 0 ? word : word[0]?.toUpperCase() + word.slice(1)))
            .join(""),
          summary: url,
          tags,
          response: ok,
        },
      },
      async () => {
        await database.bypassTenantIsolation("test", run);
        return { ok: true };
      },
    );
  const newUser = (fields: { email?: string; name?: string } = {}) => ({
    id: newId(),
    email: fields.email ?? `user-${randomUUID()}@example.test`,
    name: fields.name ?? "Test User",
  });

  route("/db/unique", async (db) => {
    const email = `dup-${randomUUID()}@example.test`;
    await db.insert(users).values(newUser({ email }));
    await db.insert(users).values(newUser({ email: email.toUpperCase() }));
  });
  route("/db/foreign-key", (db) =>
    db.insert(memberships).values({ tenantId: randomUUID(), userId: randomUUID() }),
  );
  route("/db/nul", (db) => db.insert(users).values(newUser({ name: "secret\u0000name" })));
  route("/db/check", (db) => db.insert(users).values(newUser({ name: "" })));
  route("/db/out-of-range", (db) => db.execute(sql`select ${"99999999999"}::int`));
  app.post(
    "/db/raise/:state",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "raisesAnSQLSTATE",
        summary: "Raises an SQLSTATE",
        tags,
        params: z.object({ state: z.string().regex(/^[0-9A-Z]{5}$/) }),
        response: ok,
      },
    },
    async (request) => {
      await database.bypassTenantIsolation("test", (db) =>
        db.execute(
          sql.raw(
            `do $$ begin raise exception 'raised on purpose' using errcode = '${request.params.state}'; end $$`,
          ),
        ),
      );
      return { ok: true };
    },
  );
};

describe("database errors through the query builder", () => {
  let testDatabase: TestDatabase;
  let app: FastifyInstance;
  let logs: LogCapture;

  beforeAll(async () => {
    testDatabase = await createTestDatabase();
    ({ app, logs } = await buildLoggedTestApp({ DATABASE_URL: testDatabase.url }, [
      databaseErrorsModule,
    ]));
  });
  afterAll(async () => {
    await app?.close();
    await testDatabase?.drop();
  });

  /** Nothing of the statement, its parameters or the driver's wording reaches the client. */
  function expectNothingLeaked(payload: string) {
    for (const leak of [
      "Failed query",
      "insert into",
      "params",
      "duplicate key",
      "users_email_key",
      "violates",
      "secret",
      "raised on purpose",
      "@example.test",
    ]) {
      expect(payload).not.toContain(leak);
    }
    expectNoStack(payload);
  }

  it.each([
    ["a unique violation (23505)", "/db/unique", "conflict", /already exists/],
    [
      "a foreign-key violation (23503)",
      "/db/foreign-key",
      "conflict",
      /does not exist or is still in use/,
    ],
    ["a NUL in a text value (22021)", "/db/nul", "bad-request", /cannot be stored/],
    ["a value out of range (22003)", "/db/out-of-range", "bad-request", /cannot be stored/],
    ["a check violation (23514)", "/db/check", "bad-request", /cannot be stored/],
  ] as const)("answers %s as a problem, not a 500", async (_, url, code, detail) => {
    const response = await app.inject({ method: "POST", url: `/api/v1${url}` });
    const body = expectProblem(response, code);
    expect(body.detail).toMatch(detail);
    expectNothingLeaked(response.body);
  });

  it.each([
    ["a serialization failure", "40001"],
    ["a deadlock", "40P01"],
    ["a lock not available", "55P03"],
  ])("asks the client to retry %s: 503 with Retry-After", async (_, state) => {
    const response = await app.inject({ method: "POST", url: `/api/v1/db/raise/${state}` });
    const body = expectProblem(response, "service-unavailable");
    expect(body.detail).toMatch(/retry/i);
    expect(response.headers["retry-after"]).toBe("1");
    expectNothingLeaked(response.body);
  });

  it.each([
    ["a statement timeout", "57014"],
    ["a server shutting down", "57P01"],
    ["too many connections", "53300"],
    ["a lost connection", "08006"],
  ])("answers %s with 503 and Retry-After", async (_, state) => {
    const response = await app.inject({ method: "POST", url: `/api/v1/db/raise/${state}` });
    expectProblem(response, "service-unavailable");
    expect(Number(response.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expectNothingLeaked(response.body);
  });

  it("answers any other data exception (class 22) with 400", async () => {
    const response = await app.inject({ method: "POST", url: "/api/v1/db/raise/22P05" });
    expectProblem(response, "bad-request");
  });

  it("still answers an SQLSTATE it does not know with 500", async () => {
    const response = await app.inject({ method: "POST", url: "/api/v1/db/raise/XX000" });
    expectProblem(response, "internal-error");
    expectNothingLeaked(response.body);
  });

  it("logs the SQLSTATE and constraint of a refused statement, never its parameters", async () => {
    logs.clear();
    const response = await app.inject({ method: "POST", url: "/api/v1/db/check" });
    expect(response.statusCode).toBe(400);
    const [line] = logs.matching({ msg: "database refused the request" });
    expect(line).toMatchObject({ sqlState: "23514", constraint: "users_name_length" });
    expect(JSON.stringify(logs.lines)).not.toContain("@example.test");
  });
});

const NUL = "a\u0000b";

/** A JSON schema of the OpenAPI document, as far as the fuzzing below reads it. */
interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  const?: unknown;
  minLength?: number;
  minimum?: number;
  minItems?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

interface Operation {
  parameters?: { name: string; in: string; schema: JsonSchema }[];
  requestBody?: { content?: Record<string, { schema: JsonSchema }> };
}

interface FuzzCase {
  readonly name: string;
  readonly method: string;
  readonly url: string;
  readonly field: string;
  readonly payload?: unknown;
}

/**
 * One request per string input of every operation in the document: every string in the body
 * (nested ones too), every query parameter and every path parameter gets a NUL, the rest
 * holds plausible values.
 */
function fuzzCases(document: {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}): FuzzCase[] {
  const resolve = (schema: JsonSchema | undefined): JsonSchema => {
    if (!schema) return {};
    if (schema.$ref) {
      const name = schema.$ref.split("/").pop() as string;
      return resolve(document.components?.schemas?.[name]);
    }
    const choice = schema.anyOf ?? schema.oneOf;
    if (choice) return resolve(choice.find((each) => resolve(each).type !== "null") ?? choice[0]);
    return schema;
  };
  const typeOf = (schema: JsonSchema) =>
    [schema.type].flat().find((type) => type !== "null") ?? (schema.enum ? "enum" : undefined);
  const sample = (given: JsonSchema | undefined): unknown => {
    const schema = resolve(given);
    if (schema.const !== undefined) return schema.const;
    if (schema.enum) return schema.enum[0];
    switch (typeOf(schema)) {
      case "string":
        if (schema.format === "uuid") return randomUUID();
        if (schema.format === "email") return `fuzz-${randomUUID()}@example.test`;
        return "Plausible value".padEnd(schema.minLength ?? 0, "x");
      case "integer":
      case "number":
        return schema.minimum ?? 1;
      case "boolean":
        return true;
      case "array":
        return (schema.minItems ?? 0) > 0 ? [sample(schema.items)] : [];
      case "object":
        return Object.fromEntries(
          Object.entries(schema.properties ?? {}).map(([key, value]) => [key, sample(value)]),
        );
      default:
        return "Plausible value";
    }
  };
  /** The paths of every string leaf in `value` built from `schema`. */
  const stringLeaves = (given: JsonSchema | undefined, path: string[]): string[][] => {
    const schema = resolve(given);
    const type = typeOf(schema);
    if (type === "string") return [path];
    if (type === "array") return stringLeaves(schema.items, [...path, "0"]);
    if (type === "object") {
      return Object.entries(schema.properties ?? {}).flatMap(([key, value]) =>
        stringLeaves(value, [...path, key]),
      );
    }
    return [];
  };
  const withNul = (value: unknown, path: string[]): unknown => {
    if (path.length === 0) return NUL;
    const [head, ...rest] = path as [string, ...string[]];
    if (Array.isArray(value)) {
      const copy = value.length > 0 ? [...value] : [undefined];
      copy[Number(head)] = withNul(copy[Number(head)], rest);
      return copy;
    }
    const object = (value ?? {}) as Record<string, unknown>;
    return { ...object, [head]: withNul(object[head], rest) };
  };

  const cases: FuzzCase[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const parameters = operation.parameters ?? [];
      const pathValues = Object.fromEntries(
        parameters
          .filter((parameter) => parameter.in === "path")
          .map((parameter) => [parameter.name, String(sample(parameter.schema))]),
      );
      const urlWith = (values: Record<string, string>, query = "") =>
        path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? "")) +
        query;
      const bodySchema = operation.requestBody?.content?.["application/json"]?.schema;
      const body = bodySchema ? sample(bodySchema) : undefined;
      const base = {
        method: method.toUpperCase(),
        ...(body === undefined ? {} : { payload: body }),
      };
      for (const parameter of parameters) {
        if (typeOf(resolve(parameter.schema)) !== "string") continue;
        if (parameter.in === "path") {
          cases.push({
            ...base,
            name: `${method.toUpperCase()} ${path} params.${parameter.name}`,
            url: urlWith({ ...pathValues, [parameter.name]: NUL }),
            field: parameter.name,
          });
        } else if (parameter.in === "query") {
          cases.push({
            ...base,
            name: `${method.toUpperCase()} ${path} query.${parameter.name}`,
            url: urlWith(pathValues, `?${parameter.name}=${encodeURIComponent(NUL)}`),
            field: parameter.name,
          });
        }
      }
      for (const leaf of stringLeaves(bodySchema, [])) {
        cases.push({
          method: method.toUpperCase(),
          name: `${method.toUpperCase()} ${path} ${leaf.join(".")}`,
          url: urlWith(pathValues),
          field: leaf.join("."),
          payload: withNul(body, leaf),
        });
      }
    }
  }
  return cases;
}

describe("every route of the API, with the kit's modules on a real database", () => {
  let ctx: TenancyTestContext;
  let owner: TestTenant;

  beforeAll(async () => {
    // Every route answers many requests here: no limit may come before validation.
    ctx = await setupTenancyTest({
      RATE_LIMIT_ENABLED: "false",
      TENANT_CREATION_LIMIT_PER_USER: "1000",
    });
    owner = await ctx.newTenant();
    // A platform admin too, so every route gets past its access check to validation.
    await ctx.database.bypassTenantIsolation("test arrangement", (db) =>
      db.update(users).set({ isPlatformAdmin: true }).where(eq(users.id, owner.userId)),
    );
  });
  afterAll(() => ctx?.close());

  it("answers 422 naming the field for a NUL in any string input of /openapi.json", async () => {
    const document = (await ctx.app.inject({ method: "GET", url: "/openapi.json" })).json();
    const cases = fuzzCases(document);
    // The fuzzing reaches the kit's inputs, not just a few of them.
    expect(cases.length).toBeGreaterThan(30);
    expect(cases.map((each) => each.name)).toEqual(
      expect.arrayContaining([
        "POST /api/v1/auth/register name",
        "POST /api/v1/notes name",
        "GET /api/v1/audit-logs query.action",
        "GET /api/v1/notes/{id} params.id",
      ]),
    );
    const answers: string[] = [];
    for (const each of cases) {
      const response = await ctx.app.inject({
        method: each.method as "GET",
        url: each.url,
        headers: owner.headers,
        remoteAddress: randomAddress(),
        ...(each.payload === undefined ? {} : { payload: each.payload as object }),
      });
      const fields = response.statusCode === 422 ? response.json<ProblemBody>().errors : [];
      answers.push(
        `${each.name}: ${response.statusCode}${fields?.some((error) => error.field === each.field) ? "" : " (field not named)"}`,
      );
    }
    expect(answers).toEqual(cases.map((each) => `${each.name}: 422`));
  });

  it("documents display names in /openapi.json as strings with their lengths", async () => {
    const document = (await ctx.app.inject({ method: "GET", url: "/openapi.json" })).json();
    const bodyOf = (path: string, method: string) =>
      document.paths[path][method].requestBody.content["application/json"].schema.properties;
    expect(bodyOf("/api/v1/notes", "post").name).toMatchObject({
      type: "string",
      minLength: 1,
      maxLength: 200,
    });
    expect(JSON.stringify(bodyOf("/api/v1/notes", "post").description)).toContain(
      '"maxLength":2000',
    );
    expect(bodyOf("/api/v1/roles", "post").name).toMatchObject({
      type: "string",
      minLength: 1,
      maxLength: 64,
    });
    expect(bodyOf("/api/v1/auth/register", "post").tenantName).toMatchObject({
      type: "string",
      maxLength: 200,
    });
  });

  /** Every input that is a display name (or multi-line text), and where its value comes back. */
  interface TextInput {
    readonly name: string;
    readonly field: string;
    readonly multiline?: boolean;
    send(value: string): Promise<LightMyRequestResponse>;
    stored(response: LightMyRequestResponse): unknown;
  }

  const textInputs = (): TextInput[] => {
    const inject = (method: "POST" | "PATCH", url: string, payload: object) =>
      ctx.app.inject({
        method,
        url,
        payload,
        headers: owner.headers,
        remoteAddress: randomAddress(),
      });
    const registration = (field: "name" | "tenantName") => ({
      name: `POST /auth/register ${field}`,
      field,
      send: (value: string) =>
        ctx.app.inject({
          method: "POST",
          url: "/api/v1/auth/register",
          remoteAddress: randomAddress(),
          payload: {
            email: `display-${randomUUID()}@example.test`,
            password: "correct horse battery staple",
            name: "Ada Lovelace",
            tenantName: "Analytical Engines",
            [field]: value,
          },
        }),
      stored: (response: LightMyRequestResponse) =>
        field === "name" ? response.json().user.name : response.json().tenant.name,
    });
    const created = async (url: string, payload: object) => {
      const response = await inject("POST", url, payload);
      expect(response.statusCode, response.body).toBe(201);
      return response.json<{ id: string }>().id;
    };
    return [
      registration("name"),
      registration("tenantName"),
      {
        name: "PATCH /users/me name",
        field: "name",
        send: (value) => inject("PATCH", "/api/v1/users/me", { name: value }),
        stored: (response) => response.json().name,
      },
      {
        name: "POST /tenants name",
        field: "name",
        send: (value) => inject("POST", "/api/v1/tenants", { name: value }),
        stored: (response) => response.json().name,
      },
      {
        name: "PATCH /tenants/current name",
        field: "name",
        send: (value) => inject("PATCH", "/api/v1/tenants/current", { name: value }),
        stored: (response) => response.json().name,
      },
      {
        name: "POST /notes name",
        field: "name",
        send: (value) => inject("POST", "/api/v1/notes", { name: value }),
        stored: (response) => response.json().name,
      },
      {
        name: "POST /notes description",
        field: "description",
        multiline: true,
        send: (value) => inject("POST", "/api/v1/notes", { name: "Lamp", description: value }),
        stored: (response) => response.json().description,
      },
      {
        name: "PATCH /notes/:id name",
        field: "name",
        send: async (value) =>
          inject("PATCH", `/api/v1/notes/${await created("/api/v1/notes", { name: "Lamp" })}`, {
            name: value,
          }),
        stored: (response) => response.json().name,
      },
      {
        name: "POST /roles name",
        field: "name",
        send: (value) => inject("POST", "/api/v1/roles", { name: value, permissions: [] }),
        stored: (response) => response.json().name,
      },
      {
        name: "POST /roles description",
        field: "description",
        send: (value) =>
          inject("POST", "/api/v1/roles", {
            name: `Role ${randomUUID().slice(0, 8)}`,
            description: value,
            permissions: [],
          }),
        stored: (response) => response.json().description,
      },
      {
        name: "PATCH /roles/:id name",
        field: "name",
        send: async (value) => {
          const id = await created("/api/v1/roles", {
            name: `Role ${randomUUID().slice(0, 8)}`,
            permissions: [],
          });
          return inject("PATCH", `/api/v1/roles/${id}`, { name: value });
        },
        stored: (response) => response.json().name,
      },
    ];
  };

  it.each([
    ["a right-to-left override", "invoice\u202Etxt.exe", /formatting characters \(found U\+202E\)/],
    ["a first-strong isolate", "a\u2068b", /formatting characters \(found U\+2068\)/],
    ["a zero-width space", "owner\u200B", /formatting characters \(found U\+200B\)/],
    ["a zero-width joiner", "a\u200Db", /formatting characters \(found U\+200D\)/],
    ["a byte-order mark inside", "a\uFEFFb", /formatting characters \(found U\+FEFF\)/],
    ["a control character", "bell\u0007", /control characters \(found U\+0007\)/],
    ["a tab", "a\tb", /control characters \(found U\+0009\)/],
    ["a line feed", "two\nlines", /single line \(found U\+000A\)|U\+000A only/],
    ["a carriage return", "two\rlines", /single line \(found U\+000D\)|U\+000A only/],
    ["a line separator", "two\u2028lines", /single line \(found U\+2028\)|U\+000A only/],
    ["a paragraph separator", "two\u2029lines", /single line \(found U\+2029\)|U\+000A only/],
  ])("refuses display text holding %s with 422 on every route", async (_, value, message) => {
    for (const input of textInputs()) {
      // Multi-line text keeps line feeds (and turns CR and CR LF into them).
      if (input.multiline && /^two\r?\n?lines$/.test(value)) continue;
      const response = await input.send(value);
      const body = expectProblem(response, "validation-failed");
      expect(body.errors, input.name).toEqual([
        { field: input.field, message: expect.stringMatching(message) },
      ]);
    }
  });

  it("trims and NFC-normalises display text on every route", async () => {
    for (const [index, input] of textInputs().entries()) {
      const response = await input.send(`  Cafe\u0301 \u{1F680} ${index}  `);
      expect(response.statusCode, `${input.name}: ${response.body}`).toBeLessThan(300);
      expect(input.stored(response), input.name).toBe(`Caf\u00E9 \u{1F680} ${index}`);
    }
  });

  it("keeps line feeds in multi-line text, turning CR LF and CR into them", async () => {
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/notes",
      headers: owner.headers,
      payload: { name: "Lamp", description: " first\r\nsecond\rthird\n\nfourth " },
    });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json().description).toBe("first\nsecond\nthird\n\nfourth");
  });

  it("refuses a name that is empty once trimmed", async () => {
    for (const input of textInputs().filter((each) => each.field !== "description")) {
      const response = await input.send(" \u00A0\u3000 ");
      const body = expectProblem(response, "validation-failed");
      expect(body.errors, input.name).toEqual([
        { field: input.field, message: "must not be empty" },
      ]);
    }
  });
});
