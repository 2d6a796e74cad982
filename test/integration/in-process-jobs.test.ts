import { randomUUID } from "node:crypto";
import { asc } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ZodError, z } from "zod";
import { createApp, type ModuleDependencies } from "../../src/app.js";
import { type Database, openDatabase, type TenantScope } from "../../src/core/database/index.js";
import { defineJob, jobOutbox, type OutgoingJob } from "../../src/core/jobs/index.js";
import { createLogger, currentContext, runWithContext } from "../../src/core/logging/index.js";
import { createTenantsService } from "../../src/modules/tenants/index.js";
import { testConfig } from "../helpers/app.js";
import { sleep, waitFor } from "../helpers/jobs.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

/**
 * The embedded default: without REDIS_URL the API runs its jobs itself (in-process transport)
 * and relays its own outbox, with the same validation, context and retry rules as the worker.
 */

const flakyAttempts: number[] = [];
const flaky = defineJob({
  name: "flaky-in-process",
  schema: z.object({}),
  attempts: 3,
  backoff: { type: "fixed", delayMs: 50 },
  async handler(_payload, { attempt }) {
    flakyAttempts.push(attempt);
    if (attempt === 1) throw new Error("first run fails");
  },
});

const brokenAttempts: number[] = [];
const broken = defineJob({
  name: "broken-in-process",
  schema: z.object({}),
  attempts: 3,
  backoff: { type: "exponential", delayMs: 20 },
  async handler(_payload, { attempt }) {
    brokenAttempts.push(attempt);
    throw new Error("always fails");
  },
});

const recorded: { payload: unknown; jobId: string; tenantId?: string; requestId?: string }[] = [];
const record = defineJob({
  name: "record-in-process",
  schema: z.object({ n: z.number() }),
  attempts: 1,
  async handler(payload, context) {
    recorded.push({
      payload,
      jobId: context.jobId,
      ...(context.tenantDb ? { tenantId: context.tenantDb.scope.tenantId } : {}),
      ...(currentContext()?.requestId ? { requestId: currentContext()?.requestId } : {}),
    });
  },
});

type InProcess = { kind: string; failed: readonly OutgoingJob[]; idle(): Promise<void> };

let testDatabase: TestDatabase;
let app: FastifyInstance;
let database: Database;
let dependencies: ModuleDependencies | undefined;

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  const config = testConfig({ DATABASE_URL: testDatabase.url });
  expect(config.redisUrl).toBeUndefined();
  // A module that only keeps what modules are given (the jobs and the send-email job).
  const probe = async (_api: unknown, given: ModuleDependencies) => {
    dependencies = given;
  };
  app = await createApp(config, { modules: [probe], jobs: [flaky, broken, record] });
  database = await openDatabase(config, createLogger(config));
});
afterAll(async () => {
  await app?.close();
  await database?.close();
  await testDatabase?.drop();
});

const transport = () => app.jobs.transport as unknown as InProcess;

describe("the in-process transport", () => {
  it("is what the app uses without REDIS_URL, and modules get the same jobs", () => {
    expect(app.jobs.transport.kind).toBe("in-process");
    expect(dependencies?.jobs).toBe(app.jobs);
    expect(dependencies?.sendEmail.name).toBe("send-email");
    expect(app.mailer.kind).toBe("log");
  });

  it("sends an email through the send-email job, rendered and escaped", async () => {
    const sendEmail = dependencies?.sendEmail;
    if (!sendEmail) throw new Error("the probe module was not registered");
    const link = "https://app.example.com/reset?token=abc&user=1";
    await app.jobs.enqueue(sendEmail, {
      to: "ada@example.com",
      template: "password-reset",
      data: { name: "<script>alert(1)</script>", link },
    });
    const message = await waitFor("the email to be sent", () =>
      app.mailer.outbox.find((each) => each.to === "ada@example.com"),
    );
    expect(message.subject).toBe("Reset your password");
    expect(message.text).toContain(link);
    expect(message.text).toContain("the account “<script>alert(1)</script>”");
    expect(message.html).not.toContain("<script>");
    expect(message.html).toContain("&#60;script&#62;alert(1)&#60;/script&#62;");
    expect(message.html).toContain('<a href="https://app.example.com/reset?token=abc&#38;user=1">');
  });

  it("refuses an email whose template data does not fit, before queueing it", async () => {
    const sendEmail = dependencies?.sendEmail;
    if (!sendEmail) throw new Error("the probe module was not registered");
    const before = app.mailer.outbox.length;
    await expect(
      app.jobs.enqueue(sendEmail, {
        to: "bob@example.com",
        template: "invitation",
        data: { tenantName: "Acme", inviterName: "Ada", link: "not a url" },
      }),
    ).rejects.toBeInstanceOf(ZodError);
    await expect(
      app.jobs.enqueue(sendEmail, {
        to: "not-an-address",
        template: "email-verification",
        data: { name: "Bob", link: "https://example.com/v" },
      }),
    ).rejects.toBeInstanceOf(ZodError);
    await transport().idle();
    expect(app.mailer.outbox.length).toBe(before);
  });

  it("retries a failing job, which then succeeds", async () => {
    await app.jobs.enqueue(flaky, {});
    await waitFor("the second attempt", () => flakyAttempts.length >= 2);
    await transport().idle();
    expect(flakyAttempts).toEqual([1, 2]);
    expect(transport().failed.map((job) => job.name)).not.toContain("flaky-in-process");
  });

  it("gives up after the last attempt and keeps the job as failed", async () => {
    const jobId = await app.jobs.enqueue(broken, {});
    await waitFor("the last attempt", () => brokenAttempts.length >= 3);
    await transport().idle();
    expect(brokenAttempts).toEqual([1, 2, 3]);
    expect(transport().failed.map((job) => job.jobId)).toEqual([jobId]);
  });

  it("runs a job enqueued twice with the same jobId once", async () => {
    const before = recorded.length;
    await app.jobs.enqueue(record, { n: 1 }, { jobId: "in-process-once" });
    await app.jobs.enqueue(record, { n: 1 }, { jobId: "in-process-once" });
    await waitFor("the job to run", () => recorded.length > before);
    await transport().idle();
    await sleep(50);
    expect(recorded.slice(before).map((each) => each.jobId)).toEqual(["in-process-once"]);
  });

  it("relays an outbox job committed in a tenant transaction and runs it as the tenant", async () => {
    const tenant = await createTenantsService({ database }).create({ name: "In-process Tenant" });
    const scope: TenantScope = {
      tenantId: tenant.id,
      userId: randomUUID(),
      requestId: "req-in-process",
    };
    const before = recorded.length;
    const jobId = await runWithContext(
      { requestId: "req-in-process", ip: "127.0.0.1", ...scope },
      () =>
        database
          .forTenant(scope)
          .transaction((tx) => app.jobs.enqueue(record, { n: 2 }, { transaction: tx })),
    );
    // The app's relay polls every 500 ms.
    await waitFor("the relayed job to run", () => recorded.length > before, { timeoutMs: 5_000 });
    expect(recorded.slice(before)).toEqual([
      { payload: { n: 2 }, jobId, tenantId: tenant.id, requestId: "req-in-process" },
    ]);
    // The job may run before the relay's transaction deletes the row (publish comes first).
    await waitFor("the relayed row to be deleted", async () => {
      const all = await database.bypassTenantIsolation("test inspection", (db) =>
        db.select().from(jobOutbox).orderBy(asc(jobOutbox.id)),
      );
      return all.every((row) => row.id !== jobId);
    });
  });

  it("never runs an outbox job whose transaction rolled back", async () => {
    const before = recorded.length;
    await expect(
      database.bypassTenantIsolation("test rollback", async (tx) => {
        await app.jobs.enqueue(record, { n: 3 }, { transaction: tx });
        throw new Error("rolled back");
      }),
    ).rejects.toThrow("rolled back");
    await sleep(1_200); // more than two relay polls
    expect(recorded.length).toBe(before);
  });
});
