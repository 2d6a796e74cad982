import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AppModule } from "../../src/app.js";
import { publicAccess, signedIn } from "../../src/core/http/access.js";
import { buildTestApp } from "../helpers/app.js";
import { expectProblem } from "../helpers/problems.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Echoes the id the handler sees, and fails on demand. */
const echoModule: AppModule = async (plain) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  app.get(
    "/echo-id",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "echoTheRequestId",
        summary: "Echo the request id",
        tags: ["test"],
        response: { 200: z.object({ id: z.string(), contextId: z.string() }) },
      },
    },
    async (request) => ({ id: request.id, contextId: request.context.requestId }),
  );
  app.post(
    "/echo-body",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "echoAName",
        summary: "Echo a name",
        tags: ["test"],
        body: z.object({ name: z.string() }),
        response: { 200: z.object({ name: z.string() }) },
      },
    },
    async (request) => ({ name: request.body.name }),
  );
  app.get(
    "/private",
    {
      config: { access: signedIn },
      schema: {
        operationId: "signedInOnly",
        summary: "Signed in only",
        tags: ["test"],
        response: { 200: z.null() },
      },
    },
    async () => null,
  );
  app.get(
    "/crash",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "crash",
        summary: "Crash",
        tags: ["test"],
        response: { 200: z.null() },
      },
    },
    async () => {
      throw new Error("boom");
    },
  );
};

describe("request ids", () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await buildTestApp({}, [echoModule]);
  });
  afterAll(async () => {
    await app.close();
  });

  it("echoes a well-formed incoming X-Request-Id and uses it everywhere", async () => {
    const response = await app.inject({
      method: "GET",
      url: "/api/v1/echo-id",
      headers: { "x-request-id": "req-12345678" },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers["x-request-id"]).toBe("req-12345678");
    expect(response.json()).toEqual({ id: "req-12345678", contextId: "req-12345678" });
  });

  it("uses the incoming id as the traceId of a problem", async () => {
    const failures = [
      { method: "GET", url: "/api/v1/crash", status: 500 },
      { method: "GET", url: "/api/v1/missing", status: 404 },
      { method: "DELETE", url: "/health/live", status: 405 },
    ] as const;
    for (const { method, url, status } of failures) {
      const response = await app.inject({
        method,
        url,
        headers: { "x-request-id": "req-12345678" },
      });
      expect(response.statusCode, url).toBe(status);
      expect(response.headers["x-request-id"]).toBe("req-12345678");
      expect(response.json().traceId).toBe("req-12345678");
    }
  });

  it("accepts the whole allowed alphabet up to 128 characters", async () => {
    const id = `Ab9._:-${"x".repeat(121)}`;
    expect(id).toHaveLength(128);
    const response = await app.inject({
      method: "GET",
      url: "/health/live",
      headers: { "x-request-id": id },
    });
    expect(response.headers["x-request-id"]).toBe(id);
  });

  it.each([
    ["a", "a"],
    ["7", "7"],
    ["abc1234", "abc1234"],
    ["a.b:c-d_e", "a.b:c-d_e"],
  ])("keeps a short well-formed id: %s", async (_case, id) => {
    const response = await app.inject({
      method: "GET",
      url: "/api/v1/echo-id",
      headers: { "x-request-id": id },
    });
    expect(response.headers["x-request-id"]).toBe(id);
    expect(response.json()).toEqual({ id, contextId: id });
  });

  it.each([
    ["empty", ""],
    ["with spaces", "req 12345678"],
    ["with a newline", "req-1234\n5678"],
    ["with a CR/LF log-forging attempt", "req-12345678\r\nlevel=error"],
    ["longer than 128 characters", "r".repeat(129)],
    ["with quotes", 'req-"12345678"'],
    ["with a slash", "req/12345678"],
    ["with angle brackets", "<script>"],
    ["with a percent escape", "req%0A1"],
    ["with a non-ASCII letter", "r\u00e9q"],
  ])("replaces an id %s by a generated UUID", async (_case, id) => {
    const response = await app.inject({
      method: "GET",
      url: "/api/v1/echo-id",
      headers: { "x-request-id": id },
    });
    expect(response.statusCode).toBe(200);
    const generated = response.headers["x-request-id"];
    expect(generated).toMatch(UUID);
    expect(generated).not.toBe(id);
    expect(response.json()).toEqual({ id: generated, contextId: generated });
  });

  it("replaces a repeated X-Request-Id header by a generated UUID", async () => {
    const response = await app.inject({
      method: "GET",
      url: "/api/v1/echo-id",
      headers: { "x-request-id": ["req-12345678", "req-87654321"] },
    });
    expect(response.headers["x-request-id"]).toMatch(UUID);
  });

  it("generates a distinct UUID for each request without one", async () => {
    const first = await app.inject({ method: "GET", url: "/api/v1/echo-id" });
    const second = await app.inject({ method: "GET", url: "/api/v1/echo-id" });
    const firstId = first.headers["x-request-id"];
    expect(firstId).toMatch(UUID);
    expect(second.headers["x-request-id"]).toMatch(UUID);
    expect(second.headers["x-request-id"]).not.toBe(firstId);
    expect(first.json()).toEqual({ id: firstId, contextId: firstId });
  });

  it("uses the generated id as the traceId of a problem", async () => {
    const response = await app.inject({
      method: "GET",
      url: "/api/v1/missing",
      headers: { "x-request-id": "bad id" },
    });
    const body = expectProblem(response, "not-found");
    expect(body.traceId).toMatch(UUID);
    expect(body.traceId).toBe(response.headers["x-request-id"]);
  });

  it("puts X-Request-Id on every response, whatever its status or origin", async () => {
    const requests = [
      { method: "GET", url: "/api/v1/echo-id" },
      { method: "HEAD", url: "/health/live" },
      { method: "GET", url: "/api/v1/missing" },
      { method: "DELETE", url: "/health/live" },
      { method: "GET", url: "/api/v1/crash" },
      { method: "GET", url: "/api/v1/echo-id/%E0%A4%A" },
      { method: "GET", url: "/api/v1/private" },
      { method: "POST", url: "/api/v1/echo-body", payload: { name: 1 } },
      {
        method: "POST",
        url: "/api/v1/echo-body",
        headers: { "content-type": "text/xml" },
        payload: "<name/>",
      },
      {
        method: "POST",
        url: "/api/v1/echo-body",
        headers: { "content-type": "application/json" },
        payload: "{",
      },
      {
        method: "OPTIONS",
        url: "/api/v1/echo-id",
        headers: { origin: "http://localhost:3000", "access-control-request-method": "GET" },
      },
    ] as const;
    const statuses: number[] = [];
    for (const request of requests) {
      for (const id of ["client-id-1", undefined]) {
        const response = await app.inject({
          ...request,
          headers: {
            ...("headers" in request ? request.headers : {}),
            ...(id ? { "x-request-id": id } : {}),
          },
        });
        statuses.push(response.statusCode);
        const echoed = response.headers["x-request-id"];
        if (id) expect(echoed, `${request.method} ${request.url}`).toBe(id);
        else expect(echoed, `${request.method} ${request.url}`).toMatch(UUID);
      }
    }
    // The requests above cover the kit's kinds of answers, not just successes.
    expect(new Set(statuses)).toEqual(new Set([200, 204, 400, 401, 404, 405, 415, 422, 500]));
  });

  it("exposes X-Request-Id to browsers through CORS", async () => {
    const response = await app.inject({
      method: "GET",
      url: "/health/live",
      headers: { origin: "http://localhost:3000" },
    });
    expect(String(response.headers["access-control-expose-headers"]).toLowerCase()).toContain(
      "x-request-id",
    );
  });
});
