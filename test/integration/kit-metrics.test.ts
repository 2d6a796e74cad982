/**
 * The operator's metrics (src/core/observability/kit-metrics.ts) move when what they describe
 * happens: pools, tenant entry failures, rate-limit refusals, sign-in failures, session
 * revocations, readiness, jobs, the queue and the outbox, on real PostgreSQL and Redis. The
 * registry belongs to the process, so each test compares values before and after.
 */
import { setTimeout as delay } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBackground } from "../../src/background.js";
import { createLogger } from "../../src/core/logging/index.js";
import { observeQueue } from "../../src/core/observability/kit-metrics.js";
import { startMetricsServer } from "../../src/core/observability/metrics-server.js";
import { FROM_THE_APP, login, PASSWORD, randomAddress, register } from "../helpers/auth.js";
import { createQueueHarness, type QueueHarness, waitFor } from "../helpers/jobs.js";
import { setupTenancyTest, type TenancyTestContext } from "../helpers/tenancy.js";

let ctx: TenancyTestContext;
beforeAll(async () => {
  // A per-IP limit small enough to reach; every other request comes from an address of its own.
  ctx = await setupTenancyTest({ RATE_LIMIT_IP: "3" });
});
afterAll(() => ctx?.close());

/** The value of one series of /metrics, 0 when it is absent. */
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const response = await ctx.app.inject({ url: "/metrics", remoteAddress: randomAddress() });
  expect(response.statusCode).toBe(200);
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  let total = 0;
  for (const line of response.body.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? "").split(/,(?=[a-z_]+=")/);
    if (wanted.every((pair) => present.includes(pair))) total += Number(match[3]);
  }
  return total;
}

describe("database metrics", () => {
  it("report each pool by application_name, and time every checkout", async () => {
    const before = await metric("db_pool_acquire_duration_seconds_count", {
      pool: "agency-kit-system",
    });
    const user = await register(ctx.app);
    expect(user.accessToken).toBeTruthy();
    expect(
      await metric("db_pool_acquire_duration_seconds_count", { pool: "agency-kit-system" }),
    ).toBeGreaterThan(before);
    expect(await metric("db_pool_max_connections", { pool: "agency-kit" })).toBeGreaterThanOrEqual(
      ctx.config.databasePoolSize,
    );
    expect(await metric("db_pool_waiting_requests", { pool: "agency-kit" })).toBe(0);
    const open = await ctx.app.inject({ url: "/metrics", remoteAddress: randomAddress() });
    expect(open.body).toMatch(/^db_pool_connections\{pool="agency-kit",state="idle"\} \d+$/m);
  });

  it("count tenant statements refused on entry, by reason", async () => {
    const tenant = await ctx.newTenant();
    const notes = () =>
      ctx.app.inject({
        url: "/api/v1/notes",
        headers: tenant.headers,
        remoteAddress: randomAddress(),
      });
    expect((await notes()).statusCode).toBe(200);
    const before = await metric("db_tenant_entry_failures_total", { reason: "tenant_suspended" });
    await ctx.database.bypassTenantIsolation("test arrangement", (db) =>
      db.execute(sql`update tenants set status = 'suspended' where id = ${tenant.tenant.id}`),
    );
    expect((await notes()).statusCode).toBe(403);
    expect(
      await metric("db_tenant_entry_failures_total", { reason: "tenant_suspended" }),
    ).toBeGreaterThan(before);
  });
});

describe("security metrics", () => {
  it("count rate-limit refusals by limit", async () => {
    const address = randomAddress();
    const before = await metric("rate_limit_refusals_total", { limit: "ip" });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const response = await ctx.app.inject({ url: "/api/v1/permissions", remoteAddress: address });
      statuses.push(response.statusCode);
    }
    expect(statuses).toContain(429);
    const refused = statuses.filter((status) => status === 429).length;
    expect(await metric("rate_limit_refusals_total", { limit: "ip" })).toBe(before + refused);
  });

  it("count failed sign-ins by reason and revocations by scope", async () => {
    const user = await register(ctx.app);
    const wrong = await metric("auth_sign_in_failures_total", { reason: "wrong-password" });
    const unknown = await metric("auth_sign_in_failures_total", { reason: "unknown-email" });
    expect((await login(ctx.app, { email: user.email, password: `${PASSWORD}!` })).statusCode).toBe(
      401,
    );
    expect(
      (await login(ctx.app, { email: `nobody-${user.email}`, password: PASSWORD })).statusCode,
    ).toBe(401);
    expect(await metric("auth_sign_in_failures_total", { reason: "wrong-password" })).toBe(
      wrong + 1,
    );
    expect(await metric("auth_sign_in_failures_total", { reason: "unknown-email" })).toBe(
      unknown + 1,
    );

    const sessions = await metric("auth_session_revocations_total", { scope: "session" });
    const logout = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout",
      headers: FROM_THE_APP,
      cookies: { refresh_token: user.refreshToken },
      remoteAddress: randomAddress(),
    });
    expect(logout.statusCode, logout.body).toBe(204);
    expect(await metric("auth_session_revocations_total", { scope: "session" })).toBe(sessions + 1);
  });

  it("report the readiness checks", async () => {
    expect(await metric("readiness_check_up", { check: "database" })).toBe(1);
    expect(await metric("readiness_check_up", { check: "redis" })).toBe(1);
  });
});

describe("job, queue and outbox metrics", () => {
  let harness: QueueHarness;
  beforeAll(() => {
    const logger = createLogger(ctx.config);
    const background = createBackground(ctx.config, logger);
    harness = createQueueHarness({
      definitions: background.registry.all(),
      database: ctx.database,
      logger,
    });
  });
  afterAll(() => harness?.close());

  it("time each run by job and outcome, and read the queue's depth and age at scrape", async () => {
    const stop = observeQueue(harness.queue);
    try {
      const email = `metrics-${Date.now()}@example.test`;
      await harness.jobs.enqueue(sendEmail(), {
        to: email,
        template: "email-verification",
        data: { name: "Ada", link: "https://app.example.test/verify-email?token=x" },
      });
      await waitFor("the queue's depth", async () =>
        (await metric("job_queue_jobs", { queue: "jobs", state: "waiting" })) >= 1
          ? true
          : undefined,
      );
      expect(
        await metric("job_queue_oldest_waiting_age_seconds", { queue: "jobs" }),
      ).toBeGreaterThanOrEqual(0);
      const completed = await metric("job_run_duration_seconds_count", {
        job: "send-email",
        outcome: "completed",
      });
      harness.startWorker();
      await waitFor("the job's run", async () =>
        (await metric("job_run_duration_seconds_count", {
          job: "send-email",
          outcome: "completed",
        })) > completed
          ? true
          : undefined,
      );
      expect(await metric("job_queue_jobs", { queue: "jobs", state: "waiting" })).toBe(0);
    } finally {
      stop();
    }
  });

  function sendEmail() {
    const definition = harness.registry.get("send-email");
    if (!definition) throw new Error("send-email is not registered");
    return definition;
  }

  it("time each outbox row from its transaction to the queue", async () => {
    const { createOutboxRelay } = await import("../../src/core/jobs/index.js");
    const before = await metric("outbox_relay_lag_seconds_count");
    const user = await register(ctx.app);
    expect(user.accessToken).toBeTruthy();
    const relay = createOutboxRelay({
      database: ctx.database,
      transport: harness.transport,
      logger: createLogger(ctx.config),
    });
    expect(await relay.relayOnce()).toBeGreaterThan(0);
    expect(await metric("outbox_relay_lag_seconds_count")).toBeGreaterThan(before);
    const scraped = await ctx.app.inject({ url: "/metrics", remoteAddress: randomAddress() });
    expect(scraped.body).toMatch(/^outbox_oldest_pending_age_seconds \d/m);
  });
});

describe("a worker's /metrics", () => {
  it("serves the process's metrics with the metrics token, and refuses without it", async () => {
    const server = await startMetricsServer({
      host: "127.0.0.1",
      port: 0,
      token: "a-token-for-this-test",
      logger: createLogger(ctx.config),
    });
    try {
      const url = `http://127.0.0.1:${server.port}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      const answered = await fetch(url, {
        headers: { authorization: "Bearer a-token-for-this-test" },
      });
      expect(answered.status).toBe(200);
      const text = await answered.text();
      expect(text).toContain("# TYPE job_run_duration_seconds histogram");
      expect(text).toContain("# TYPE nodejs_eventloop_lag_p99_seconds gauge");
      expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe("memory metrics", () => {
  it("report the heap a full collection leaves, which rises with what stays alive and falls when it is freed", async () => {
    setFlagsFromString("--expose-gc");
    const collect = runInNewContext("gc") as () => void;
    const afterFullCollection = async () => {
      collect();
      // The collection's entry reaches the observer on a later turn of the event loop.
      await delay(50);
      return metric("nodejs_heap_used_after_full_gc_bytes");
    };
    const before = await afterFullCollection();
    expect(before).toBeGreaterThan(1_000_000);
    // 40 MB of objects that stay alive (arrays of numbers live in the V8 heap, unlike buffers).
    let kept: number[][] | undefined = Array.from({ length: 40 }, () =>
      Array.from({ length: 131_072 }, (_, index) => index + 0.5),
    );
    const withMore = await afterFullCollection();
    expect(withMore - before).toBeGreaterThan(30_000_000);
    expect(kept.length).toBe(40);
    kept = undefined;
    const freed = await afterFullCollection();
    expect(withMore - freed).toBeGreaterThan(30_000_000);
  });
});
