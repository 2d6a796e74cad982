/**
 * Tracing end to end, on a real HTTP server, PostgreSQL and Redis, with spans exported to
 * memory: the tree of a request that writes and mails (request, tenant statements, outbox,
 * queue, job, mail), what spans never hold, the trace id in log lines, problems and the
 * X-Trace-Id header, and an incoming traceparent that is not trusted (TRUST_TRACEPARENT unset;
 * tracing-trusted.test.ts has the other case).
 *
 * Tracing must start before the application's modules load, so everything beyond vitest, the
 * configuration and the tracing facade is imported in beforeAll, after startTracing.
 */
import type { AddressInfo } from "node:net";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Background } from "../../src/background.js";
import type { Config } from "../../src/config.js";
import type { Database } from "../../src/core/database/index.js";
import type { OutboxRelay } from "../../src/core/jobs/index.js";
import type { JobWorker } from "../../src/core/jobs/worker.js";
import { startTracing, type TracingHandle } from "../../src/core/observability/tracing.js";
import { testConfig } from "../helpers/config.js";
import type { LogCapture } from "../helpers/log-capture.js";
import type { TestDatabase } from "../helpers/test-database.js";

const exporter = new InMemorySpanExporter();
let tracing: TracingHandle | undefined;
let config: Config;
let app: FastifyInstance;
let baseUrl: string;
let logs: LogCapture;
let testDatabase: TestDatabase;
let database: Database;
let background: Background;
let relay: OutboxRelay;
let worker: JobWorker;
let transportClose: () => Promise<void>;
const connections: Redis[] = [];
let owner: {
  headers: { authorization: string };
  email: string;
  accessToken: string;
  refreshToken: string;
};
let helpers: {
  waitFor: typeof import("../helpers/jobs.js").waitFor;
  PASSWORD: string;
  uniqueEmail: () => string;
};

beforeAll(async () => {
  // The defaults: untrusted incoming trace context, every trace kept.
  tracing = await startTracing(testConfig(), { role: "api", exporter });
  const { TEST_REDIS_URL } = await import("../helpers/app.js");

  const { createTestDatabase } = await import("../helpers/test-database.js");
  const { LogCapture } = await import("../helpers/log-capture.js");
  const { createApp } = await import("../../src/app.js");
  const { testModules } = await import("../helpers/test-modules.js");
  const { createBackground } = await import("../../src/background.js");
  const { openDatabase } = await import("../../src/core/database/index.js");
  const { createLogger } = await import("../../src/core/logging/index.js");
  const jobs = {
    ...(await import("../../src/core/jobs/index.js")),
    ...(await import("../../src/core/jobs/bullmq-transport.js")),
    ...(await import("../../src/core/jobs/worker.js")),
  };
  const { Redis } = await import("ioredis");
  const { register, PASSWORD, uniqueEmail } = await import("../helpers/auth.js");
  const { waitFor } = await import("../helpers/jobs.js");
  helpers = { waitFor, PASSWORD, uniqueEmail };

  testDatabase = await createTestDatabase();
  config = testConfig({
    DATABASE_URL: testDatabase.tenantUrl,
    DATABASE_SYSTEM_URL: testDatabase.systemUrl,
    REDIS_URL: TEST_REDIS_URL,
    LOG_LEVEL: "info",
  });
  logs = new LogCapture();
  app = await createApp(config, { modules: testModules, logStream: logs });
  await app.listen({ host: "127.0.0.1", port: 0 });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  // The worker's side, in this process: the relay and a BullMQ worker on the app's queue.
  const logger = createLogger(config, logs, "worker");
  database = await openDatabase(config, logger);
  background = createBackground(config, logger);
  const connect = (options = {}) => {
    const redis = new Redis(TEST_REDIS_URL, options);
    connections.push(redis);
    return redis;
  };
  const transport = jobs.bullmqTransport({
    connection: connect(),
    keyPrefix: config.redisKeyPrefix,
    registry: background.registry,
  });
  transportClose = async () => {
    await transport.queue.obliterate({ force: true }).catch(() => {});
    await transport.close();
  };
  relay = jobs.createOutboxRelay({ database, transport, logger });
  worker = jobs.createJobWorker({
    registry: background.registry,
    connection: connect({ maxRetriesPerRequest: null }),
    keyPrefix: config.redisKeyPrefix,
    concurrency: 1,
    database,
    logger,
  });

  // Arranged through inject: no HTTP server span, so none of it is in the exporter.
  const { markEmailVerified } = await import("../helpers/identity.js");
  const user = await register(app);
  // Only a verified address may invite.
  await markEmailVerified(database, user.body.user.id);
  owner = {
    headers: user.headers,
    email: user.email,
    accessToken: user.accessToken,
    refreshToken: user.refreshToken,
  };
  exporter.reset();
}, 60_000);

afterAll(async () => {
  await worker?.worker.close(true);
  await transportClose?.();
  await Promise.allSettled(connections.map((redis) => redis.quit()));
  await database?.close();
  await app?.close();
  await testDatabase?.drop();
  await tracing?.shutdown();
});

const spans = () => exporter.getFinishedSpans();
const traceOf = (span: ReadableSpan) => span.spanContext().traceId;
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;

/** The server span of the request that answered with this X-Trace-Id. */
function serverSpan(traceId: string): ReadableSpan {
  const span = spans().find((each) => each.kind === SpanKind.SERVER && traceOf(each) === traceId);
  if (!span) throw new Error(`no server span in trace ${traceId}`);
  return span;
}

function childOf(parent: ReadableSpan, name: string | RegExp): ReadableSpan {
  const child = spans().find(
    (span) =>
      parentOf(span) === idOf(parent) &&
      (typeof name === "string" ? span.name === name : name.test(span.name)),
  );
  if (!child) {
    const children = spans()
      .filter((span) => parentOf(span) === idOf(parent))
      .map((span) => span.name);
    throw new Error(`no child ${name} of ${parent.name}; its children: ${children.join(", ")}`);
  }
  return child;
}

function isDescendantOf(span: ReadableSpan, ancestor: ReadableSpan): boolean {
  const byId = new Map(spans().map((each) => [idOf(each), each]));
  let current: ReadableSpan | undefined = span;
  while (current) {
    if (parentOf(current) === idOf(ancestor)) return true;
    const parentId = parentOf(current);
    current = parentId ? byId.get(parentId) : undefined;
  }
  return false;
}

async function call(
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { "content-type": "application/json" }),
      ...owner.headers,
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    traceId: response.headers.get("x-trace-id") ?? "",
    body: (text ? JSON.parse(text) : undefined) as Record<string, unknown>,
  };
}

describe("a request that writes and mails", () => {
  let inviteTrace: string;
  let invitee: string;
  let invitationToken: string;

  it("is one trace: request, tenant statements, outbox, queue, job, mail", async () => {
    const roles = await call("GET", "/api/v1/roles");
    const memberRole = (roles.body.items as { id: string; name: string }[]).find(
      (role) => role.name === "member",
    );
    invitee = helpers.uniqueEmail();
    const invited = await call("POST", "/api/v1/invitations", {
      body: { email: invitee, roleIds: [memberRole?.id] },
    });
    expect(invited.status, JSON.stringify(invited.body)).toBe(201);
    expect(invited.traceId).toMatch(/^[0-9a-f]{32}$/);
    inviteTrace = invited.traceId;
    invitationToken = invited.body.token as string;

    // The worker side: the relay moves the outbox row to the queue, the worker mails.
    await relay.relayOnce();
    await helpers.waitFor("the invitation email", () =>
      background.mailer.outbox.find((message) => message.to === invitee),
    );
    await helpers.waitFor("the job's span", () =>
      spans().find((span) => span.name === "job send-email" && traceOf(span) === inviteTrace),
    );

    const request = serverSpan(inviteTrace);
    expect(request.name).toBe("POST /api/v1/invitations");
    expect(request.attributes).toMatchObject({
      "http.route": "/api/v1/invitations",
      "http.response.status_code": 201,
      "tenant.id": expect.any(String),
      "user.id": expect.any(String),
    });
    expect(request.parentSpanContext).toBeUndefined();

    // The tenant transaction's statements, the tenant's entry first, under the request; every
    // pg span has its SQL (never its values) and a name, none is an unnamed twin of a batch.
    const entry = spans().find(
      (span) =>
        traceOf(span) === inviteTrace &&
        String(span.attributes["db.query.text"] ?? "").includes("app.enter_tenant"),
    );
    expect(
      entry,
      spans()
        .map((span) => span.name)
        .join(", "),
    ).toBeDefined();
    expect(isDescendantOf(entry as ReadableSpan, request)).toBe(true);
    for (const span of spans().filter((each) => each.name.startsWith("pg.query"))) {
      expect(span.attributes["db.query.text"], span.name).toEqual(expect.any(String));
      expect(span.attributes["db.query.text"]).not.toBe("");
    }
    // The outbox row is written in the request's transaction, inside the enqueue span.
    const enqueue = spans().find(
      (span) => span.name === "enqueue send-email" && traceOf(span) === inviteTrace,
    ) as ReadableSpan;
    expect(enqueue).toBeDefined();
    expect(isDescendantOf(enqueue, request)).toBe(true);
    expect(enqueue.attributes["job.outbox"]).toBe(true);
    expect(childOf(enqueue, /^pg\.query:INSERT/).attributes["db.query.text"]).toMatch(
      /insert into "job_outbox"/,
    );
    // The relay's span continues the trace from the row; the queue's from the relay's.
    const relayed = childOf(enqueue, "outbox relay send-email");
    const publish = childOf(relayed, "publish send-email");
    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(publish.attributes["messaging.system"]).toBe("bullmq");
    // Redis commands of the publication, by command name only.
    const redisCommand = spans().find((span) => parentOf(span) === idOf(publish));
    expect(
      redisCommand?.attributes["db.system.name"] ?? redisCommand?.attributes["db.system"],
    ).toBe("redis");
    const job = childOf(publish, "job send-email");
    expect(job.kind).toBe(SpanKind.CONSUMER);
    expect(job.attributes).toMatchObject({ "job.name": "send-email", "job.attempt": 1 });
    const mail = childOf(job, "mail send");
    expect(mail.attributes).toMatchObject({
      "mail.template": "invitation",
      "mail.transport": "log",
    });
  });

  it("logs the trace id on the request's lines and on the job's", () => {
    const completed = logs
      .matching({ msg: "request completed", route: "/api/v1/invitations" })
      .find((line) => line.traceId === inviteTrace);
    expect(completed, JSON.stringify(logs.matching({ msg: "request completed" }))).toBeDefined();
    expect(completed?.spanId).toMatch(/^[0-9a-f]{16}$/);
    const jobLines = logs.lines.filter(
      (line) => line.msg === "job completed" && line.job === "send-email",
    );
    expect(jobLines.map((line) => line.traceId)).toContain(inviteTrace);
  });

  it("keeps tokens, emails, passwords and bodies out of every span", async () => {
    const signedIn = await call("POST", "/api/v1/auth/login", {
      body: { email: owner.email, password: helpers.PASSWORD },
      headers: { authorization: "" },
    });
    expect(signedIn.status).toBe(200);
    const query = await call("GET", "/api/v1/notes?limit=2&cursor=c2VjcmV0LWN1cnNvcg");
    const secrets = [
      owner.email,
      invitee,
      helpers.PASSWORD,
      owner.accessToken,
      owner.refreshToken,
      signedIn.body.accessToken as string,
      invitationToken,
      "c2VjcmV0LWN1cnNvcg",
      JSON.stringify({ email: invitee }).slice(1, -1),
    ];
    const values = spans().flatMap((span) => [
      ...Object.values(span.attributes),
      ...span.events.flatMap((event) => Object.values(event.attributes ?? {})),
    ]);
    expect(values.length).toBeGreaterThan(50);
    for (const value of values.map(String)) {
      for (const secret of secrets) expect(value).not.toContain(secret);
      expect(value).not.toMatch(/[^\s@]+@[^\s@]+\.[a-z]{2,}/i);
    }
    // The parameters' names stay: which were sent, never what.
    const listed = serverSpan(query.traceId);
    expect(listed.attributes["url.query"]).toBe("limit=REDACTED&cursor=REDACTED");
  });
});

describe("tenant reads", () => {
  it("have a span per statement, named by the statement, and no pg span of their own", async () => {
    const created = await call("POST", "/api/v1/notes", { body: { name: "traced" } });
    expect(created.status).toBe(201);
    const read = await call("GET", `/api/v1/notes/${created.body.id}`);
    expect(read.status).toBe(200);
    const request = serverSpan(read.traceId);
    expect(request.name).toBe("GET /api/v1/notes/:id");
    const statement = childOf(request, /^notes_find_by_id_[0-9a-f]{16}$/);
    expect(statement.kind).toBe(SpanKind.CLIENT);
    expect(statement.attributes).toMatchObject({
      "db.system": "postgresql",
      "db.system.name": "postgresql",
    });
    expect(spans().filter((span) => parentOf(span) === idOf(statement))).toEqual([]);
  });
});

describe("the context", () => {
  it("is OpenTelemetry's and the request's in one AsyncLocalStorage, each kept when the other changes", async () => {
    const { EventEmitter } = await import("node:events");
    const { context, createContextKey, ROOT_CONTEXT } = await import("@opentelemetry/api");
    const { currentContext, runWithContext } = await import("../../src/core/logging/index.js");
    const { scopedTrace } = await import("../../src/core/logging/async-scope.js");
    const key = createContextKey("test value");
    const traced = ROOT_CONTEXT.setValue(key, "traced");
    const request = { requestId: "context-test", ip: "127.0.0.1" };
    const afterATurn = async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return {
        trace: scopedTrace(),
        value: context.active().getValue(key),
        request: currentContext(),
      };
    };

    // OpenTelemetry's context lives in the kit's store (a second one would leave it undefined).
    const expected = { trace: traced, value: "traced", request };
    expect(await context.with(traced, () => runWithContext(request, afterATurn))).toEqual(expected);
    expect(await runWithContext(request, () => context.with(traced, afterATurn))).toEqual(expected);

    // A listener bound to a context (the http instrumentation binds outgoing calls) runs in it.
    const emitter = context.bind(traced, new EventEmitter());
    const heard = new Promise((resolve) =>
      emitter.on("event", () => resolve(context.active().getValue(key))),
    );
    runWithContext(request, () => emitter.emit("event"));
    expect(await heard).toBe("traced");
    expect(context.active().getValue(key)).toBeUndefined();
    expect(currentContext()).toBeUndefined();
  });
});

describe("problems and the incoming trace context", () => {
  const incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

  it("carry the trace id in the body, the header and the log line", async () => {
    const missing = await call("GET", "/api/v1/notes/0190d1a2-0000-7000-8000-000000000000");
    expect(missing.status).toBe(404);
    expect(missing.body.traceId).toBe(missing.traceId);
    expect(serverSpan(missing.traceId).attributes["http.response.status_code"]).toBe(404);
    const line = logs.lines.find(
      (each) => each.msg === "request completed" && each.traceId === missing.traceId,
    );
    expect(line?.status).toBe(404);
  });

  it("start a trace of their own when the caller's traceparent is not trusted", async () => {
    const answered = await call("GET", "/api/v1/notes", { headers: { traceparent: incoming } });
    expect(answered.status).toBe(200);
    expect(answered.traceId).not.toBe("0af7651916cd43dd8448eb211c80319c");
    const request = serverSpan(answered.traceId);
    expect(request.parentSpanContext).toBeUndefined();
    expect(spans().some((span) => traceOf(span) === "0af7651916cd43dd8448eb211c80319c")).toBe(
      false,
    );
  });
});
