/**
 * With TRUST_TRACEPARENT=true (a gateway of the operator's sets or clears the header), an
 * incoming W3C traceparent is continued: the request's span is its child, and the problem body
 * and X-Trace-Id quote the caller's trace id. The untrusted default is in tracing.test.ts.
 */
import type { AddressInfo } from "node:net";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTracing, type TracingHandle } from "../../src/core/observability/tracing.js";
import { testConfig } from "../helpers/config.js";
import type { TestDatabase } from "../helpers/test-database.js";

const exporter = new InMemorySpanExporter();
let tracing: TracingHandle | undefined;
let testDatabase: TestDatabase | undefined;
let app: FastifyInstance;
let baseUrl: string;

beforeAll(async () => {
  const settings = { ENVIRONMENT: "test", TRUST_TRACEPARENT: "true" };
  tracing = await startTracing(testConfig(settings), { role: "api", exporter });
  // The application only now, so that node:http, pg and ioredis load instrumented.
  const { buildTestApp } = await import("../helpers/app.js");
  const { createTestDatabase } = await import("../helpers/test-database.js");
  testDatabase = await createTestDatabase();
  app = await buildTestApp({
    ...settings,
    DATABASE_URL: testDatabase.tenantUrl,
    DATABASE_SYSTEM_URL: testDatabase.systemUrl,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
  await testDatabase?.drop();
  await tracing?.shutdown();
});

describe("a trusted incoming traceparent", () => {
  it("is continued by the request's span, its problem and its X-Trace-Id", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentId = "00f067aa0ba902b7";
    const response = await fetch(`${baseUrl}/api/v1/notes`, {
      headers: { traceparent: `00-${traceId}-${parentId}-01` },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("x-trace-id")).toBe(traceId);
    expect(((await response.json()) as { traceId: string }).traceId).toBe(traceId);
    const request = exporter
      .getFinishedSpans()
      .find((span) => span.kind === SpanKind.SERVER && span.spanContext().traceId === traceId);
    expect(request?.name).toBe("GET /api/v1/notes");
    expect(request?.parentSpanContext?.spanId).toBe(parentId);
    expect(request?.parentSpanContext?.isRemote).toBe(true);
  });

  it("is not needed: without one, a request starts its own trace", async () => {
    const response = await fetch(`${baseUrl}/api/v1/notes`);
    const traceId = response.headers.get("x-trace-id") ?? "";
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(((await response.json()) as { traceId: string }).traceId).toBe(traceId);
    const request = exporter
      .getFinishedSpans()
      .find((span) => span.kind === SpanKind.SERVER && span.spanContext().traceId === traceId);
    expect(request?.parentSpanContext).toBeUndefined();
  });

  it("is followed when it leaves the trace out: the id is answered, nothing is recorded", async () => {
    const login = (traceId: string, flags: string) =>
      fetch(`${baseUrl}/api/v1/auth/login`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          traceparent: `00-${traceId}-00f067aa0ba902b7-${flags}`,
        },
        // An unknown address: the sign-in reads the database, then refuses.
        body: JSON.stringify({ email: "nobody@example.test", password: "not the password" }),
      });
    const sampledOut = "5bf92f3577b34da6a3ce929d0e0e4736";
    const refused = await login(sampledOut, "00");
    expect(refused.status, await refused.clone().text()).toBe(401);
    expect(refused.headers.get("x-trace-id")).toBe(sampledOut);
    expect(((await refused.json()) as { traceId: string }).traceId).toBe(sampledOut);
    // The same request in a kept trace records its span and the database's, so the absence
    // above is the sampler's decision followed, not a request that was never traced.
    const kept = "6bf92f3577b34da6a3ce929d0e0e4736";
    expect((await login(kept, "01")).status).toBe(401);
    const traceOf = (traceId: string) =>
      exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
    expect(traceOf(kept).map((span) => span.kind)).toEqual(
      expect.arrayContaining([SpanKind.SERVER, SpanKind.CLIENT]),
    );
    expect(traceOf(sampledOut)).toEqual([]);
  });
});
