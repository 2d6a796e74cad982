/**
 * REQUEST_LOG decides which requests get a completion line: every one ("all"), or only those
 * answered 400 and above and those slower than REQUEST_LOG_SLOW_MS ("errors-and-slow"). Real
 * apps, requests through inject, and the JSON lines captured from a pino destination.
 */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AppModule } from "../../src/app.js";
import { publicAccess } from "../../src/core/http/access.js";
import { testConfig } from "../helpers/app.js";
import { buildLoggedTestApp, type LogCapture } from "../helpers/log-capture.js";

const tags = ["test"];

/** A fast route, a slow one, one that fails and one that refuses its input. */
const routesModule: AppModule = async (plain) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  const options = (summary: string) => ({
    config: { access: publicAccess },
    schema: {
      operationId: summary.toLowerCase(),
      summary,
      tags,
      response: { 200: z.object({ ok: z.boolean() }) },
    },
  });
  app.get("/fast", options("Fast"), async () => ({ ok: true }));
  app.get("/slow", options("Slow"), async () => {
    await new Promise((resolve) => setTimeout(resolve, 250));
    return { ok: true };
  });
  app.get("/broken", options("Broken"), async () => {
    throw new Error("the handler broke");
  });
  app.get(
    "/strict",
    {
      config: { access: publicAccess },
      schema: {
        operationId: "strict",
        summary: "Strict",
        tags,
        querystring: z.object({ n: z.coerce.number().int() }),
        response: { 200: z.object({ ok: z.boolean() }) },
      },
    },
    async () => ({ ok: true }),
  );
};

/** The completion lines ("request completed" at info, "request failed" at error) of a path. */
const completionLines = (logs: LogCapture, path: string) =>
  logs.lines.filter(
    (line) =>
      (line.msg === "request completed" || line.msg === "request failed") && line.path === path,
  );

async function served(app: FastifyInstance, url: string, status: number) {
  const response = await app.inject({ method: "GET", url });
  expect(response.statusCode, response.body).toBe(status);
}

describe("REQUEST_LOG", () => {
  it("is all by default, with a slow threshold of 1,000 ms", () => {
    const config = testConfig();
    expect(config.requestLog).toBe("all");
    expect(config.requestLogSlowMs).toBe(1_000);
    expect(testConfig({ REQUEST_LOG: "errors-and-slow", REQUEST_LOG_SLOW_MS: "50" })).toMatchObject(
      { requestLog: "errors-and-slow", requestLogSlowMs: 50 },
    );
    expect(() => testConfig({ REQUEST_LOG: "some" })).toThrow(/REQUEST_LOG/);
    expect(() => testConfig({ REQUEST_LOG_SLOW_MS: "0" })).toThrow(/REQUEST_LOG_SLOW_MS/);
  });

  describe("all", () => {
    let app: FastifyInstance;
    let logs: LogCapture;
    beforeAll(async () => {
      ({ app, logs } = await buildLoggedTestApp({ REQUEST_LOG: "all" }, [routesModule]));
    });
    afterAll(() => app.close());

    it("writes a line for a fast 200 as for every other request", async () => {
      await served(app, "/api/v1/fast", 200);
      await served(app, "/api/v1/strict?n=x", 422);
      await served(app, "/api/v1/broken", 500);
      expect(completionLines(logs, "/api/v1/fast")).toEqual([
        expect.objectContaining({ level: "info", status: 200, route: "/api/v1/fast" }),
      ]);
      expect(completionLines(logs, "/api/v1/strict")).toEqual([
        expect.objectContaining({ level: "info", status: 422 }),
      ]);
      expect(completionLines(logs, "/api/v1/broken")).toEqual([
        expect.objectContaining({ level: "error", status: 500, msg: "request failed" }),
      ]);
    });
  });

  describe("errors-and-slow", () => {
    let app: FastifyInstance;
    let logs: LogCapture;
    beforeAll(async () => {
      ({ app, logs } = await buildLoggedTestApp(
        { REQUEST_LOG: "errors-and-slow", REQUEST_LOG_SLOW_MS: "150" },
        [routesModule],
      ));
    });
    afterAll(() => app.close());

    it("writes no line for fast successful requests", async () => {
      for (let i = 0; i < 5; i++) await served(app, "/api/v1/fast", 200);
      await served(app, "/health/live", 200);
      expect(completionLines(logs, "/api/v1/fast")).toEqual([]);
      expect(completionLines(logs, "/health/live")).toEqual([]);
    });

    it("writes the line of a request slower than the threshold, with its duration", async () => {
      await served(app, "/api/v1/slow", 200);
      const [line, ...more] = completionLines(logs, "/api/v1/slow");
      expect(more).toEqual([]);
      expect(line).toMatchObject({ level: "info", status: 200, requestId: expect.any(String) });
      expect(line?.durationMs).toBeGreaterThanOrEqual(150);
    });

    it("writes the line of every 4xx and 5xx answer", async () => {
      await served(app, "/api/v1/strict?n=x", 422);
      await served(app, "/api/v1/no-such-route", 404);
      await served(app, "/api/v1/broken", 500);
      expect(completionLines(logs, "/api/v1/strict")).toEqual([
        expect.objectContaining({ level: "info", status: 422 }),
      ]);
      expect(completionLines(logs, "/api/v1/no-such-route")).toEqual([
        expect.objectContaining({ level: "info", status: 404 }),
      ]);
      expect(completionLines(logs, "/api/v1/broken")).toEqual([
        expect.objectContaining({ level: "error", status: 500, msg: "request failed" }),
      ]);
    });

    it("still writes the other lines of a fast request (its handler's, its errors')", async () => {
      logs.clear();
      await served(app, "/api/v1/broken", 500);
      expect(
        logs.lines.some((line) => line.msg !== "request failed" && line.level === "error"),
      ).toBe(true);
    });
  });
});
