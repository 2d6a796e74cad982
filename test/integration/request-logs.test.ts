/**
 * Log lines of a request. Depends on the `logStream` option of createApp
 * (`createApp(config, { modules, logStream })`, a pino DestinationStream that receives the JSON
 * lines instead of stdout); see test/helpers/log-capture.ts.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AppModule } from "../../src/app.js";
import { publicAccess } from "../../src/core/http/access.js";
import { buildLoggedTestApp, type LogCapture } from "../helpers/log-capture.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const tags = ["test"];

/** Routes that log through request.log and through the root logger. */
const loggingModule: AppModule = async (plain) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();

  app.get(
    "/things/:id",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "readAThing",
        summary: "Read a thing",
        tags,
        params: z.object({ id: z.string() }),
        response: { 200: z.object({ id: z.string() }) },
      },
    },
    async (request) => {
      request.log.info({ marker: "request-log" }, "handler says hello");
      return { id: request.params.id };
    },
  );

  const whoSchema = z.object({ tenantId: z.string(), userId: z.string() });
  const identify = async (request: FastifyRequest, who: z.infer<typeof whoSchema>) => {
    request.context.tenantId = who.tenantId;
    request.context.userId = who.userId;
    // Let other requests interleave before logging, as real I/O would.
    await new Promise((resolve) => setTimeout(resolve, 10));
    app.log.info({ marker: `root-log-${who.tenantId}` }, "deep code logs");
    request.log.info({ marker: `request-log-${who.tenantId}` }, "handler logs");
  };

  app.get(
    "/who",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "whoQuery",
        summary: "Who (query)",
        tags,
        querystring: whoSchema,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await identify(request, request.query);
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/who",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "whoBody",
        summary: "Who (body)",
        tags,
        body: whoSchema,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await identify(request, request.body);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/secrets",
    {
      config: { access: publicAccess },
      schema: { operationId: "secrets", summary: "Secrets", tags, response: { 204: z.null() } },
    },
    async (request, reply) => {
      request.log.info(
        {
          marker: "secrets",
          password: "hunter2hunter2",
          token: "tok-123",
          user: { password: "p" },
        },
        "logging secrets by mistake",
      );
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/crash",
    {
      config: { access: publicAccess },
      schema: { operationId: "crash", summary: "Crash", tags, response: { 204: z.null() } },
    },
    async () => {
      throw new Error("kaboom");
    },
  );
};

describe("request logs", () => {
  let app: FastifyInstance;
  let logs: LogCapture;

  beforeAll(async () => {
    ({ app, logs } = await buildLoggedTestApp({}, [loggingModule]));
  });
  afterAll(async () => {
    await app.close();
  });
  beforeEach(() => {
    logs.clear();
  });

  it("writes one completion line per request with its id, route and timing", async () => {
    const response = await app.inject({
      method: "GET",
      url: "/api/v1/things/abc-42?verbose=1",
      headers: { "x-request-id": "req-12345678" },
    });
    expect(response.statusCode).toBe(200);
    const completed = logs.matching({ msg: "request completed" });
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({
      level: "info",
      requestId: "req-12345678",
      method: "GET",
      path: "/api/v1/things/abc-42",
      route: "/api/v1/things/:id",
      status: 200,
      durationMs: expect.any(Number),
    });
    expect(completed[0]?.durationMs as number).toBeGreaterThanOrEqual(0);
    // Fastify's own "incoming request" / "request completed" pair is disabled.
    expect(logs.matching({ msg: "incoming request" })).toHaveLength(0);
  });

  it("logs the generated id when the client sent none", async () => {
    const response = await app.inject({ method: "GET", url: "/info" });
    const id = response.headers["x-request-id"];
    expect(id).toMatch(UUID);
    expect(logs.matching({ msg: "request completed" })[0]).toMatchObject({
      requestId: id,
      route: "/info",
      status: 200,
    });
  });

  it("gives request.log lines inside a handler the request id", async () => {
    await app.inject({
      method: "GET",
      url: "/api/v1/things/7",
      headers: { "x-request-id": "req-handler-1" },
    });
    const [line] = logs.matching({ marker: "request-log" });
    expect(line).toMatchObject({ requestId: "req-handler-1", msg: "handler says hello" });
  });

  it("adds tenantId and userId from request.context to root-logger lines (GET)", async () => {
    await app.inject({
      method: "GET",
      url: "/api/v1/who?tenantId=t-get&userId=u-get",
      headers: { "x-request-id": "req-who-get" },
    });
    const [root] = logs.matching({ marker: "root-log-t-get" });
    expect(root).toMatchObject({ tenantId: "t-get", userId: "u-get" });
    const [request] = logs.matching({ marker: "request-log-t-get" });
    expect(request).toMatchObject({ requestId: "req-who-get", tenantId: "t-get", userId: "u-get" });
  });

  it("keeps the context through JSON body parsing (POST)", async () => {
    await app.inject({
      method: "POST",
      url: "/api/v1/who",
      headers: { "x-request-id": "req-who-post" },
      payload: { tenantId: "t-post", userId: "u-post" },
    });
    expect(logs.matching({ marker: "root-log-t-post" })[0]).toMatchObject({
      tenantId: "t-post",
      userId: "u-post",
    });
  });

  it("never mixes the context of concurrent requests", async () => {
    const tenants = ["t-a", "t-b", "t-c", "t-d", "t-e"];
    await Promise.all(
      tenants.map((tenant, index) =>
        index % 2 === 0
          ? app.inject({
              method: "GET",
              url: `/api/v1/who?tenantId=${tenant}&userId=u-${tenant}`,
              headers: { "x-request-id": `req-${tenant}-0000` },
            })
          : app.inject({
              method: "POST",
              url: "/api/v1/who",
              headers: { "x-request-id": `req-${tenant}-0000` },
              payload: { tenantId: tenant, userId: `u-${tenant}` },
            }),
      ),
    );
    for (const tenant of tenants) {
      const root = logs.matching({ marker: `root-log-${tenant}` });
      expect(root).toHaveLength(1);
      expect(root[0]).toMatchObject({ tenantId: tenant, userId: `u-${tenant}` });
      expect(logs.matching({ marker: `request-log-${tenant}` })[0]).toMatchObject({
        requestId: `req-${tenant}-0000`,
        tenantId: tenant,
        userId: `u-${tenant}`,
      });
    }
  });

  it("gives root-logger lines written within a request the request id too", async () => {
    await app.inject({
      method: "GET",
      url: "/api/v1/who?tenantId=t-rid&userId=u-rid",
      headers: { "x-request-id": "req-root-id" },
    });
    expect(logs.matching({ marker: "root-log-t-rid" })[0]).toMatchObject({
      requestId: "req-root-id",
    });
  });

  it("writes no tenant or user fields outside a request", () => {
    app.log.info({ marker: "outside" }, "no request here");
    const [line] = logs.matching({ marker: "outside" });
    expect(line).toBeDefined();
    expect(line).not.toHaveProperty("tenantId");
    expect(line).not.toHaveProperty("userId");
  });

  it("logs a failing request as an error with the id, and the cause once", async () => {
    await app.inject({
      method: "GET",
      url: "/api/v1/crash",
      headers: { "x-request-id": "req-crash-01" },
    });
    const failed = logs.matching({ msg: "request failed" });
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      level: "error",
      requestId: "req-crash-01",
      status: 500,
      route: "/api/v1/crash",
    });
    const unhandled = logs.matching({ msg: "unhandled error" });
    expect(unhandled).toHaveLength(1);
    expect(unhandled[0]).toMatchObject({ level: "error", requestId: "req-crash-01" });
    expect(JSON.stringify(unhandled[0])).toContain("kaboom");
  });

  it("redacts passwords and tokens", async () => {
    await app.inject({ method: "GET", url: "/api/v1/secrets" });
    const [line] = logs.matching({ marker: "secrets" });
    expect(line).toMatchObject({
      password: "[redacted]",
      token: "[redacted]",
      user: { password: "[redacted]" },
    });
    expect(JSON.stringify(logs.lines)).not.toContain("hunter2");
  });

  it("stays silent at the test default level", async () => {
    const quiet = await buildLoggedTestApp({ LOG_LEVEL: undefined });
    try {
      await quiet.app.inject({ method: "GET", url: "/health/live" });
      expect(quiet.logs.lines).toEqual([]);
    } finally {
      await quiet.app.close();
    }
  });
});
