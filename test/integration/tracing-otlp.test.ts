/**
 * Tracing as an operator turns it on: src/main.ts in a process of its own, configured only by
 * the standard OTEL_* variables, exporting real OTLP/HTTP (the SDK's batch processor and
 * exporter, JSON encoded) to a receiver this test runs on 127.0.0.1. What arrives is decoded and
 * held to what docs/observability.md promises: the service's name, the request's span named by
 * its route template, the statement's span named by the statement and without its values, all
 * in the trace the answer's X-Trace-Id names. If export breaks, nothing arrives and this fails.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isolatedRedisKeyPrefix } from "../helpers/config.js";
import { type ServerProcess, startServer } from "../helpers/server-process.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

/** OTLP/JSON (opentelemetry-proto's JSON mapping): ids are hex, enums numbers. */
interface AnyValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
}
interface KeyValue {
  key: string;
  value: AnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: KeyValue[];
}
interface ExportRequest {
  resourceSpans: {
    resource: { attributes: KeyValue[] };
    scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
  }[];
}

/** SpanKind in opentelemetry-proto's trace.proto. */
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

const plainValue = (value: AnyValue): string | number | boolean | undefined =>
  value.stringValue ??
  (value.intValue === undefined ? undefined : Number(value.intValue)) ??
  value.boolValue ??
  value.doubleValue;
const attributesOf = (list: KeyValue[] | undefined) =>
  Object.fromEntries((list ?? []).map((entry) => [entry.key, plainValue(entry.value)]));

interface ReceivedSpan extends OtlpSpan {
  resource: Record<string, unknown>;
  attributeMap: Record<string, unknown>;
}

/** A minimal OTLP/HTTP traces receiver: keeps every span POSTed to /v1/traces. */
class Receiver {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes: string[] = [];
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      if (request.method !== "POST" || request.url !== "/v1/traces") {
        response.writeHead(404).end();
        return;
      }
      this.contentTypes.push(String(request.headers["content-type"]));
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ExportRequest;
      for (const resourceSpans of body.resourceSpans) {
        const resource = attributesOf(resourceSpans.resource.attributes);
        for (const scopeSpans of resourceSpans.scopeSpans) {
          for (const span of scopeSpans.spans) {
            this.spans.push({ ...span, resource, attributeMap: attributesOf(span.attributes) });
          }
        }
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Waits until a span of `traceId` matching `predicate` has arrived. */
  async waitFor(
    what: string,
    traceId: string,
    predicate: (span: ReceivedSpan) => boolean,
  ): Promise<ReceivedSpan> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const found = this.spans.find((span) => span.traceId === traceId && predicate(span));
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(
          `no ${what} in trace ${traceId} reached the receiver; it got: ${this.spans.map((span) => `${span.traceId}/${span.name}`).join(", ") || "nothing"}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

const SERVICE_NAME = `kit-otlp-test-${randomUUID().slice(0, 8)}`;
const receiver = new Receiver();
let testDatabase: TestDatabase;
let receiverPort: number;

beforeAll(async () => {
  receiverPort = await receiver.start();
  testDatabase = await createTestDatabase();
}, 60_000);

afterAll(async () => {
  await receiver.stop();
  await testDatabase?.drop();
});

async function call(
  server: ServerProcess,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`http://127.0.0.1:${server.port}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    traceId: response.headers.get("x-trace-id") ?? "",
    body: (text ? JSON.parse(text) : undefined) as Record<string, unknown>,
    text,
  };
}

describe("OTLP/HTTP export from the API process", () => {
  it("sends the request's and the statement's spans, in the trace X-Trace-Id names", async () => {
    const server = await startServer(
      {
        ENVIRONMENT: "test",
        LOG_LEVEL: "info",
        LOG_PRETTY: "false",
        DATABASE_URL: testDatabase.tenantUrl,
        DATABASE_SYSTEM_URL: testDatabase.systemUrl,
        REDIS_KEY_PREFIX: isolatedRedisKeyPrefix(),
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`,
        OTEL_SERVICE_NAME: SERVICE_NAME,
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "1",
        // The batch goes out within 100 ms instead of 5 s.
        OTEL_BSP_SCHEDULE_DELAY: "100",
      },
      { entry: "main" },
    );
    expect(server.stdout()).toContain('"msg":"tracing on"');

    const registered = await call(server, "POST", "/api/v1/auth/register", {
      email: `otlp-${randomUUID()}@example.test`,
      password: "correct horse battery staple",
      name: "Grace Hopper",
      tenantName: `Tenant ${randomUUID().slice(0, 8)}`,
    });
    expect(registered.status, registered.text).toBe(201);
    const authorization = { authorization: `Bearer ${registered.body.accessToken as string}` };

    // The kit's own tenant-scoped resource, which every app has: the tenant's new name is a
    // statement parameter, so it must reach the database, never a span.
    const tenantId = (registered.body.tenant as { id: string }).id;
    const secretName = `otlp-parameter-${randomUUID()}`;
    const renamed = await call(
      server,
      "PATCH",
      "/api/v1/tenants/current",
      { name: secretName },
      authorization,
    );
    expect(renamed.status, renamed.text).toBe(200);
    const read = await call(server, "GET", "/api/v1/tenants/current", undefined, authorization);
    expect(read.status, read.text).toBe(200);
    expect(read.body.name).toBe(secretName);
    expect(read.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(read.traceId).not.toBe(renamed.traceId);

    const request = await receiver.waitFor(
      "server span",
      read.traceId,
      (span) => span.kind === SPAN_KIND_SERVER,
    );
    const statement = await receiver.waitFor(
      "statement span",
      read.traceId,
      (span) =>
        span.kind === SPAN_KIND_CLIENT && span.attributeMap["db.system.name"] === "postgresql",
    );

    expect(receiver.contentTypes[0]).toMatch(/^application\/json/);
    expect(request.resource["service.name"]).toBe(SERVICE_NAME);
    expect(request.resource["deployment.environment.name"]).toBe("test");
    expect(request.name).toBe("GET /api/v1/tenants/current");
    expect(request.attributeMap).toMatchObject({
      "http.route": "/api/v1/tenants/current",
      "http.request.method": "GET",
      "http.response.status_code": 200,
      "tenant.id": tenantId,
    });
    expect(request.parentSpanId ?? "").toBe("");

    // The tenant statement: named by the statement's label and the hash of its SQL, under the
    // request, and no value it was run with.
    expect(statement.name).toMatch(/^tenants_find_current_[0-9a-f]{16}$/);
    expect(statement.parentSpanId).toBe(request.spanId);
    expect(statement.resource["service.name"]).toBe(SERVICE_NAME);

    // The write's trace too: its update's span, and nowhere the parameter's value.
    await receiver.waitFor(
      "server span of the write",
      renamed.traceId,
      (span) => span.kind === SPAN_KIND_SERVER && span.name === "PATCH /api/v1/tenants/current",
    );
    const databaseSpans = receiver.spans.filter(
      (span) =>
        span.attributeMap["db.system.name"] === "postgresql" ||
        span.attributeMap["db.system"] === "postgresql",
    );
    expect(databaseSpans.some((span) => span.traceId === renamed.traceId)).toBe(true);
    for (const span of receiver.spans) {
      expect(JSON.stringify(span.attributes ?? []), span.name).not.toContain(secretName);
    }
    for (const span of databaseSpans) {
      expect(JSON.stringify(span.attributes ?? []), span.name).not.toContain(tenantId);
    }
  }, 90_000);
});
