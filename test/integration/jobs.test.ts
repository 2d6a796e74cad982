import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Job } from "bullmq";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ZodError, z } from "zod";
import { createSealer } from "../../src/core/crypto/index.js";
import { type Database, openDatabase } from "../../src/core/database/index.js";
import {
  type AnyJob,
  defineCron,
  defineJob,
  JobTimeoutError,
  UnknownJobError,
} from "../../src/core/jobs/index.js";
import { scheduleCrons } from "../../src/core/jobs/worker.js";
import { createLogger, currentContext, runWithContext } from "../../src/core/logging/index.js";
import { TEST_REDIS_URL, testConfig } from "../helpers/app.js";
import { createQueueHarness, type QueueHarness, sleep, waitFor } from "../helpers/jobs.js";
import { LogCapture } from "../helpers/log-capture.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

/**
 * Background jobs on the real Redis: BullMQ queue, worker, retries, timeouts, delays,
 * deduplication, shutdown and crons. Every test has a queue of its own (a random key prefix)
 * that is obliterated afterwards.
 */

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

let testDatabase: TestDatabase;
let database: Database;
const logs = new LogCapture();
const logger = createLogger(testConfig({ LOG_LEVEL: "info" }), logs);

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  database = await openDatabase(testConfig({ DATABASE_URL: testDatabase.url }), logger);
});
afterAll(async () => {
  await database?.close();
  await testDatabase?.drop();
});

const harnesses: QueueHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
  logs.clear();
});

function harness(...definitions: AnyJob[]): QueueHarness {
  const created = createQueueHarness({ definitions, database, logger });
  harnesses.push(created);
  return created;
}

async function stateOf(h: QueueHarness, jobId: string): Promise<string> {
  const job = await h.queue.getJob(jobId);
  return job ? job.getState() : "missing";
}

const waitForState = (h: QueueHarness, jobId: string, state: string, timeoutMs = 10_000) =>
  waitFor(`job ${jobId} to be ${state}`, async () => (await stateOf(h, jobId)) === state, {
    timeoutMs,
  });

const messageSchema = z.object({ message: z.string() });

describe("running a job", () => {
  it("runs once with its payload, in the tenant, user and request it was enqueued in", async () => {
    const runs: Record<string, unknown>[] = [];
    const echo = defineJob({
      name: "echo",
      schema: messageSchema,
      attempts: 1,
      async handler(payload, context) {
        runs.push({
          payload,
          jobId: context.jobId,
          attempt: context.attempt,
          scope: context.tenantDb?.scope,
          requestId: currentContext()?.requestId,
          contextTenantId: currentContext()?.tenantId,
        });
        context.log.info("echo ran");
      },
    });
    const h = harness(echo);
    h.startWorker();
    const tenantId = randomUUID();
    const userId = randomUUID();
    const jobId = await runWithContext(
      { requestId: "req-jobs-1", ip: "127.0.0.1", tenantId, userId },
      () => h.jobs.enqueue(echo, { message: "hello" }),
    );

    await waitForState(h, jobId, "completed");
    await sleep(100);
    expect(runs).toEqual([
      {
        payload: { message: "hello" },
        jobId,
        attempt: 1,
        scope: { tenantId, userId, requestId: "req-jobs-1" },
        requestId: "req-jobs-1",
        contextTenantId: tenantId,
      },
    ]);
    const [line] = logs.matching({ msg: "echo ran" });
    expect(line).toMatchObject({
      job: "echo",
      jobId,
      attempt: 1,
      tenantId,
      userId,
      requestId: "req-jobs-1",
    });
    expect(logs.matching({ msg: "job completed", jobId })).toHaveLength(1);
  });

  it("runs a job enqueued outside any request as a system job (no tenant database)", async () => {
    const seen: unknown[] = [];
    const system = defineJob({
      name: "system-echo",
      schema: messageSchema,
      attempts: 1,
      async handler(_payload, context) {
        seen.push({ tenantDb: context.tenantDb, requestId: currentContext()?.requestId });
      },
    });
    const h = harness(system);
    h.startWorker();
    const jobId = await h.jobs.enqueue(system, { message: "nightly" });
    await waitForState(h, jobId, "completed");
    // Without a request, the job id stands in for the request id in logs.
    expect(seen).toEqual([{ tenantDb: undefined, requestId: jobId }]);
  });
});

describe("enqueueing", () => {
  it("refuses a payload that fails the schema, and queues nothing", async () => {
    const echo = defineJob({ name: "echo", schema: messageSchema, async handler() {} });
    const h = harness(echo);
    await expect(h.jobs.enqueue(echo, { message: 42 } as never)).rejects.toBeInstanceOf(ZodError);
    await expect(h.jobs.enqueue(echo, {} as never)).rejects.toBeInstanceOf(ZodError);
    const counts = await h.queue.getJobCounts();
    expect(Object.values(counts).reduce((sum, count) => sum + count, 0)).toBe(0);
  });

  it("refuses a definition that is not registered, even one with a registered name", async () => {
    const echo = defineJob({ name: "echo", schema: messageSchema, async handler() {} });
    const stranger = defineJob({ name: "stranger", schema: messageSchema, async handler() {} });
    const impostor = defineJob({ name: "echo", schema: messageSchema, async handler() {} });
    const h = harness(echo);
    await expect(h.jobs.enqueue(stranger, { message: "x" })).rejects.toBeInstanceOf(
      UnknownJobError,
    );
    await expect(h.jobs.enqueue(impostor, { message: "x" })).rejects.toBeInstanceOf(
      UnknownJobError,
    );
    expect(await h.queue.count()).toBe(0);
  });
});

describe("retries", () => {
  it("retries a failing job with exponential backoff up to its attempts, then keeps it failed", async () => {
    const runs: { attempt: number; at: number }[] = [];
    const flaky = defineJob({
      name: "always-fails",
      schema: z.object({}),
      attempts: 4,
      backoff: { type: "exponential", delayMs: 100 },
      async handler(_payload, { attempt }) {
        runs.push({ attempt, at: performance.now() });
        throw new Error(`boom ${attempt}`);
      },
    });
    const h = harness(flaky);
    h.startWorker();
    const jobId = await h.jobs.enqueue(flaky, {});

    await waitForState(h, jobId, "failed");
    expect(runs.map((each) => each.attempt)).toEqual([1, 2, 3, 4]);
    const gaps = runs.slice(1).map((each, i) => each.at - (runs[i]?.at ?? 0));
    // 100, 200, 400 ms (a few ms of timer slack allowed below).
    expect(gaps[0]).toBeGreaterThanOrEqual(95);
    expect(gaps[1]).toBeGreaterThanOrEqual(195);
    expect(gaps[2]).toBeGreaterThanOrEqual(395);
    expect(gaps[1]).toBeGreaterThan(gaps[0] ?? 0);
    expect(gaps[2]).toBeGreaterThan(gaps[1] ?? 0);

    const failed = await h.queue.getFailed();
    expect(failed.map((job) => job.id)).toEqual([jobId]);
    expect(failed[0]?.attemptsMade).toBe(4);
    expect(failed[0]?.failedReason).toBe("boom 4");
    await sleep(300);
    expect(runs).toHaveLength(4);
    expect(logs.matching({ msg: "job failed for good; it stays in the failed set" })).toHaveLength(
      1,
    );
  });

  it("retries with a fixed backoff", async () => {
    const runs: number[] = [];
    const flaky = defineJob({
      name: "fixed-backoff",
      schema: z.object({}),
      attempts: 3,
      backoff: { type: "fixed", delayMs: 150 },
      async handler() {
        runs.push(performance.now());
        throw new Error("boom");
      },
    });
    const h = harness(flaky);
    h.startWorker();
    const jobId = await h.jobs.enqueue(flaky, {});
    await waitForState(h, jobId, "failed");
    expect(runs).toHaveLength(3);
    for (let i = 1; i < runs.length; i++) {
      const gap = (runs[i] ?? 0) - (runs[i - 1] ?? 0);
      expect(gap).toBeGreaterThanOrEqual(145);
      expect(gap).toBeLessThan(2_000);
    }
  });

  it("completes a job that succeeds on its second attempt", async () => {
    const attempts: number[] = [];
    const flaky = defineJob({
      name: "fails-once",
      schema: z.object({}),
      attempts: 3,
      backoff: { type: "exponential", delayMs: 50 },
      async handler(_payload, { attempt }) {
        attempts.push(attempt);
        if (attempt === 1) throw new Error("first time unlucky");
      },
    });
    const h = harness(flaky);
    h.startWorker();
    const jobId = await h.jobs.enqueue(flaky, {});
    await waitForState(h, jobId, "completed");
    expect(attempts).toEqual([1, 2]);
    expect(await h.queue.getFailedCount()).toBe(0);
  });

  it("fails a job whose stored payload no longer matches its schema without retrying it", async () => {
    const runs: unknown[] = [];
    const strict = defineJob({
      name: "strict",
      schema: messageSchema,
      attempts: 5,
      backoff: { type: "fixed", delayMs: 50 },
      async handler(payload) {
        runs.push(payload);
      },
    });
    const h = harness(strict);
    h.startWorker();
    // As if the schema changed between enqueueing and running.
    await h.transport.publish({
      name: "strict",
      envelope: { payload: { message: 7 } },
      jobId: "stale-payload",
      delayMs: 0,
    });
    await waitForState(h, "stale-payload", "failed");
    const job = await h.queue.getJob("stale-payload");
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toMatch(/invalid payload/);
    expect(runs).toEqual([]);
  });
});

describe("sealed payloads", () => {
  const sealerOf = (secretKey: string) => createSealer({ secretKey, purpose: "test secret job" });
  const current = sealerOf("the-current-secret-key-0123456789abcdef");

  function secretiveJob(runs: unknown[]) {
    return defineJob({
      name: "secretive",
      schema: messageSchema,
      attempts: 5,
      backoff: { type: "fixed", delayMs: 50 },
      sealing: {
        seal: (payload: { message: string }) => ({ sealed: current.seal(payload.message) }),
        open: (stored) => ({ message: current.open((stored as { sealed: string }).sealed) }),
      },
      async handler(payload) {
        runs.push(payload);
      },
    });
  }

  it("stores the payload sealed and gives the handler the opened one", async () => {
    const runs: unknown[] = [];
    const secretive = secretiveJob(runs);
    const h = harness(secretive);
    const jobId = await h.jobs.enqueue(secretive, { message: "https://app.test/?token=s3cret" });
    const stored = JSON.stringify((await h.queue.getJob(jobId))?.data);
    expect(stored).toMatch(/"sealed":"v1\./);
    expect(stored).not.toContain("s3cret");

    h.startWorker();
    await waitForState(h, jobId, "completed");
    expect(runs).toEqual([{ message: "https://app.test/?token=s3cret" }]);
  });

  it("fails a job sealed under another SECRET_KEY at once, and never logs its payload", async () => {
    const runs: unknown[] = [];
    const h = harness(secretiveJob(runs));
    h.startWorker();
    const sealedElsewhere = sealerOf("the-previous-secret-key-0123456789abcdef").seal("s3cret");
    await h.transport.publish({
      name: "secretive",
      envelope: { payload: { sealed: sealedElsewhere } },
      jobId: "sealed-elsewhere",
      delayMs: 0,
    });
    await waitForState(h, "sealed-elsewhere", "failed");
    const job = await h.queue.getJob("sealed-elsewhere");
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toMatch(/sealed part cannot be opened/);
    expect(runs).toEqual([]);
    expect(
      logs.matching({ msg: "job payload cannot be opened; it will not be retried" }),
    ).toMatchObject([{ level: "error", job: "secretive", jobId: "sealed-elsewhere" }]);
    const logged = JSON.stringify(logs.lines);
    expect(logged).not.toContain(sealedElsewhere.split(".")[2]);
    expect(logged).not.toContain("s3cret");
  });
});

describe("npm run jobs -- retry-failed", () => {
  const jobsScript = (h: QueueHarness, ...args: string[]) =>
    run(process.execPath, ["--import", "tsx", "scripts/jobs.ts", ...args], {
      cwd: repoRoot,
      timeout: 20_000,
      env: {
        ...process.env,
        ENVIRONMENT: "test",
        LOG_LEVEL: "warn",
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: h.keyPrefix,
      },
    });

  it("re-queues failed jobs, which run again", async () => {
    let broken = true;
    const attempts: number[] = [];
    const flaky = defineJob({
      name: "needs-a-fix",
      schema: z.object({}),
      attempts: 2,
      backoff: { type: "fixed", delayMs: 50 },
      async handler(_payload, { attempt }) {
        attempts.push(attempt);
        if (broken) throw new Error("still broken");
      },
    });
    const h = harness(flaky);
    h.startWorker();
    const jobId = await h.jobs.enqueue(flaky, {});
    await waitForState(h, jobId, "failed");
    expect(attempts).toHaveLength(2);

    const failedList = await jobsScript(h, "failed");
    expect(failedList.stdout).toContain(`${jobId}\tneeds-a-fix\tattempts=2\tstill broken`);

    broken = false; // the fix is deployed
    const { stdout } = await jobsScript(h, "retry-failed");
    expect(stdout).toContain("re-queued 1 failed job(s)");
    await waitForState(h, jobId, "completed");
    expect(attempts).toHaveLength(3);
    expect(await h.queue.getFailedCount()).toBe(0);
  });

  it("gives a re-queued job its attempts again, as the script promises", async () => {
    // scripts/jobs.ts: "re-queue every failed job (attempts start again)".
    const attempts: number[] = [];
    const broken = defineJob({
      name: "stays-broken",
      schema: z.object({}),
      attempts: 2,
      backoff: { type: "fixed", delayMs: 50 },
      async handler(_payload, { attempt }) {
        attempts.push(attempt);
        throw new Error("broken");
      },
    });
    const h = harness(broken);
    h.startWorker();
    const jobId = await h.jobs.enqueue(broken, {});
    await waitForState(h, jobId, "failed");
    expect(attempts).toEqual([1, 2]);

    expect((await jobsScript(h, "retry-failed")).stdout).toContain("re-queued 1 failed job(s)");
    await waitFor("the re-queued job to fail again", async () => {
      const job = await h.queue.getJob(jobId);
      return (await job?.getState()) === "failed" && attempts.length >= 3;
    });
    await sleep(400);
    // A fresh set of attempts, numbered from 1 again.
    expect(attempts).toEqual([1, 2, 1, 2]);
  });
});

describe("timeouts", () => {
  it("fails a run that exceeds timeoutMs with JobTimeoutError and aborts its signal", async () => {
    const seen: { aborted: boolean; reason: unknown }[] = [];
    const slow = defineJob({
      name: "too-slow",
      schema: z.object({}),
      attempts: 1,
      timeoutMs: 150,
      async handler(_payload, { signal }) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5_000);
          signal.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve();
          });
        });
        seen.push({ aborted: signal.aborted, reason: signal.reason });
      },
    });
    const h = harness(slow);
    const worker = h.startWorker();
    const errors: Error[] = [];
    worker.worker.on("failed", (_job, error) => errors.push(error));
    const started = performance.now();
    const jobId = await h.jobs.enqueue(slow, {});

    await waitForState(h, jobId, "failed");
    expect(performance.now() - started).toBeLessThan(3_000);
    // The worker emits "failed" after Redis records the state, so wait for the event too.
    await waitFor("the worker's failed event", () => errors.length === 1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(JobTimeoutError);
    const job = await h.queue.getJob(jobId);
    expect(job?.failedReason).toBe("job too-slow exceeded its timeout of 150 ms");
    await waitFor("the handler to see the abort", () => seen.length === 1);
    expect(seen[0]?.aborted).toBe(true);
    expect(seen[0]?.reason).toBeInstanceOf(JobTimeoutError);
  });

  it("retries a timed-out run like any other failure", async () => {
    const attempts: number[] = [];
    const slowOnce = defineJob({
      name: "slow-once",
      schema: z.object({}),
      attempts: 2,
      timeoutMs: 100,
      backoff: { type: "fixed", delayMs: 50 },
      async handler(_payload, { attempt, signal }) {
        attempts.push(attempt);
        if (attempt === 1) {
          await new Promise((resolve) => signal.addEventListener("abort", resolve));
        }
      },
    });
    const h = harness(slowOnce);
    h.startWorker();
    const jobId = await h.jobs.enqueue(slowOnce, {});
    await waitForState(h, jobId, "completed");
    expect(attempts).toEqual([1, 2]);
  });
});

describe("delays and deduplication", () => {
  it("runs a delayed job no earlier than delayMs", async () => {
    const ranAt: number[] = [];
    const later = defineJob({
      name: "later",
      schema: z.object({}),
      attempts: 1,
      async handler() {
        ranAt.push(Date.now());
      },
    });
    const h = harness(later);
    h.startWorker();
    const enqueuedAt = Date.now();
    const jobId = await h.jobs.enqueue(later, {}, { delayMs: 400 });
    expect(await stateOf(h, jobId)).toBe("delayed");
    await sleep(200);
    expect(ranAt).toEqual([]);
    await waitForState(h, jobId, "completed");
    expect(ranAt).toHaveLength(1);
    expect((ranAt[0] ?? 0) - enqueuedAt).toBeGreaterThanOrEqual(400);
    expect((ranAt[0] ?? 0) - enqueuedAt).toBeLessThan(3_000);
  });

  it("runs a job enqueued twice with the same jobId once, and again never after it completed", async () => {
    let runs = 0;
    const once = defineJob({
      name: "once",
      schema: z.object({}),
      attempts: 1,
      async handler() {
        runs++;
        await sleep(50);
      },
    });
    const h = harness(once);
    h.startWorker();
    const first = await h.jobs.enqueue(once, {}, { jobId: "welcome-42" });
    const second = await h.jobs.enqueue(once, {}, { jobId: "welcome-42" });
    expect([first, second]).toEqual(["welcome-42", "welcome-42"]);
    await waitForState(h, "welcome-42", "completed");
    await h.jobs.enqueue(once, {}, { jobId: "welcome-42" });
    await sleep(300);
    expect(runs).toBe(1);
  });
});

describe("worker shutdown", () => {
  /** A job that runs `ms` and ignores its signal, with when it started and ended. */
  function sleeper(ms: number) {
    const state = { started: false, finished: false, aborted: false };
    const definition = defineJob({
      name: "sleeper",
      schema: z.object({}),
      attempts: 1,
      async handler(_payload, { signal }) {
        state.started = true;
        signal.addEventListener("abort", () => {
          state.aborted = true;
        });
        await sleep(ms);
        state.finished = true;
      },
    });
    return { definition, state };
  }

  it("lets a running job shorter than the timeout finish", async () => {
    const { definition, state } = sleeper(300);
    const h = harness(definition);
    const worker = h.startWorker();
    const jobId = await h.jobs.enqueue(definition, {});
    await waitFor("the job to start", () => state.started);

    const started = performance.now();
    await worker.close(3_000);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(2_000);
    expect(state.finished).toBe(true);
    expect(state.aborted).toBe(false);
    expect(await stateOf(h, jobId)).toBe("completed");
  });

  it("returns at the timeout with a longer job, and does not complete it (handed back)", async () => {
    const { definition, state } = sleeper(1_500);
    const h = harness(definition);
    const worker = h.startWorker();
    const jobId = await h.jobs.enqueue(definition, {});
    await waitFor("the job to start", () => state.started);

    const started = performance.now();
    await worker.close(300);
    const elapsed = performance.now() - started;
    expect(state.aborted).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1_000);
    expect(state.finished).toBe(false);
    expect(await stateOf(h, jobId)).not.toBe("completed");

    // Even once the abandoned handler returns, the closed worker does not report the job done.
    await waitFor("the abandoned handler to return", () => state.finished, { timeoutMs: 3_000 });
    await sleep(200);
    expect(["active", "waiting"]).toContain(await stateOf(h, jobId));
  });

  it("hands back (does not fail for good) a job that stops on the shutdown signal", async () => {
    const state = { started: false };
    const cooperative = defineJob({
      name: "cooperative",
      schema: z.object({}),
      attempts: 1,
      async handler(_payload, { signal }) {
        state.started = true;
        await new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason)),
        );
      },
    });
    const h = harness(cooperative);
    const worker = h.startWorker();
    const jobId = await h.jobs.enqueue(cooperative, {});
    await waitFor("the job to start", () => state.started);

    const started = performance.now();
    await worker.close(300);
    expect(performance.now() - started).toBeLessThan(1_000);
    // Another worker must get to run it: it may not sit in the failed set for good.
    expect(["active", "waiting", "delayed"]).toContain(await stateOf(h, jobId));
  });
});

describe("crons", () => {
  it("runs a cron once per tick however many workers schedule it", async () => {
    const ticks: { jobId: string; at: number }[] = [];
    const tick = defineJob({
      name: "tick",
      schema: z.object({}),
      attempts: 1,
      async handler(_payload, { jobId }) {
        ticks.push({ jobId, at: Date.now() });
      },
    });
    const cron = defineCron({
      name: "every-second",
      pattern: "* * * * * *",
      job: tick,
      payload: {},
    });
    const h = harness(tick);
    const otherApi = h.secondTransport();
    h.startWorker();
    h.startWorker();
    await Promise.all([
      scheduleCrons(h.queue, [cron], logger),
      scheduleCrons(otherApi.queue, [cron], logger),
    ]);
    expect((await h.queue.getJobSchedulers()).map((scheduler) => scheduler.key)).toEqual([
      "every-second",
    ]);

    await sleep(3_500);
    await h.queue.removeJobScheduler("every-second");
    const count = ticks.length;
    // 3 or 4 ticks in 3.5 s; twice that if each worker ran each tick.
    expect(count).toBeGreaterThanOrEqual(2);
    expect(count).toBeLessThanOrEqual(4);
    expect(new Set(ticks.map((each) => each.jobId)).size).toBe(count);
  });

  it("removes schedulers that are no longer defined", async () => {
    const tick = defineJob({ name: "tick", schema: z.object({}), async handler() {} });
    const h = harness(tick);
    const old = defineCron({ name: "old-cron", pattern: "0 3 * * *", job: tick, payload: {} });
    const current = defineCron({ name: "new-cron", pattern: "0 4 * * *", job: tick, payload: {} });
    await scheduleCrons(h.queue, [old, current], logger);
    await scheduleCrons(h.queue, [current], logger);
    const schedulers = await h.queue.getJobSchedulers();
    expect(schedulers.map((scheduler) => scheduler.key)).toEqual(["new-cron"]);
    expect(schedulers[0]).toMatchObject({ pattern: "0 4 * * *", tz: "UTC" });
    const delayed: Job[] = await h.queue.getDelayed();
    expect(delayed.map((job) => job.name)).toEqual(["tick"]);
  });
});
