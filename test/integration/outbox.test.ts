import { randomUUID } from "node:crypto";
import { asc, eq, sql } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  type Database,
  newId,
  openDatabase,
  sqlStateOf,
  type TenantScope,
} from "../../src/core/database/index.js";
import { bullmqTransport } from "../../src/core/jobs/bullmq-transport.js";
import {
  type AnyJob,
  createCleanupExpiredJob,
  createOutboxRelay,
  defineJob,
  type ExpiredRowsCleanup,
  jobOutbox,
  maintenanceCrons,
  type OutboxRelay,
  sentOutboxCleanup,
} from "../../src/core/jobs/index.js";
import { createLogger, currentContext, runWithContext } from "../../src/core/logging/index.js";
import { testConfig } from "../helpers/app.js";
import { createTenant } from "../helpers/factories.js";
import { createQueueHarness, type QueueHarness, sleep, waitFor } from "../helpers/jobs.js";
import { LogCapture } from "../helpers/log-capture.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

/**
 * The transactional outbox on the real PostgreSQL and Redis: a job enqueued in a transaction
 * exists only if the transaction commits, is relayed exactly once even when the relay dies
 * half-way or Redis is down, and leaves the outbox with the commit that published it.
 */

let testDatabase: TestDatabase;
let database: Database;
let scope: TenantScope;
const logs = new LogCapture();
const logger = createLogger(testConfig({ LOG_LEVEL: "info" }), logs);

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  database = await openDatabase(testConfig({ DATABASE_URL: testDatabase.url }), logger);
  const tenant = await createTenant(database);
  scope = { tenantId: tenant.id, userId: randomUUID(), requestId: "req-outbox" };
});
afterAll(async () => {
  await database?.close();
  await testDatabase?.drop();
});

// Each test starts with an empty outbox, so relay counts are its own.
beforeEach(() =>
  database.bypassTenantIsolation("test reset", (db) => db.delete(jobOutbox).then(() => {})),
);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  logs.clear();
});

function harness(...definitions: AnyJob[]): QueueHarness {
  const created = createQueueHarness({ definitions, database, logger });
  cleanups.push(() => created.close());
  return created;
}

function relayFor(
  transport: QueueHarness["transport"],
  options: Partial<Parameters<typeof createOutboxRelay>[0]> = {},
): OutboxRelay {
  const relay = createOutboxRelay({ database, transport, logger, ...options });
  cleanups.push(() => relay.stop());
  return relay;
}

const outboxRows = () =>
  database.bypassTenantIsolation("test inspection", (db) =>
    db.select().from(jobOutbox).orderBy(asc(jobOutbox.id)),
  );

/** A job that records each run with the context it ran in. */
function recorder(name = "record") {
  const runs: { payload: unknown; jobId: string; tenantId?: string; requestId?: string }[] = [];
  const definition = defineJob({
    name,
    schema: z.object({ n: z.number() }),
    attempts: 3,
    backoff: { type: "fixed", delayMs: 50 },
    async handler(payload, context) {
      runs.push({
        payload,
        jobId: context.jobId,
        ...(context.tenantDb ? { tenantId: context.tenantDb.scope.tenantId } : {}),
        ...(currentContext()?.requestId ? { requestId: currentContext()?.requestId } : {}),
      });
    },
  });
  return { definition, runs };
}

/** Enqueues through the outbox in a tenant transaction, inside that tenant's request. */
const enqueueInTenantTransaction = (h: QueueHarness, job: AnyJob, payload: unknown) =>
  runWithContext({ requestId: scope.requestId ?? "", ip: "127.0.0.1", ...scope }, () =>
    database
      .forTenant(scope)
      .transaction((tx) => h.jobs.enqueue(job, payload, { transaction: tx })),
  );

describe("enqueueing in a transaction", () => {
  it("leaves no trace when the transaction rolls back", async () => {
    const { definition, runs } = recorder();
    const h = harness(definition);
    h.startWorker();
    const relay = relayFor(h.transport);

    await expect(
      runWithContext({ requestId: "req-rollback", ip: "127.0.0.1", ...scope }, () =>
        database.forTenant(scope).transaction(async (tx) => {
          await h.jobs.enqueue(definition, { n: 1 }, { transaction: tx });
          throw new Error("the request failed after enqueueing");
        }),
      ),
    ).rejects.toThrow("the request failed after enqueueing");

    expect(await outboxRows()).toEqual([]);
    expect(await relay.relayOnce()).toBe(0);
    await sleep(200);
    expect(runs).toEqual([]);
    expect(await h.queue.count()).toBe(0);
  });

  it("writes one row on commit, which only the relay reads, and the job runs once as the tenant", async () => {
    const { definition, runs } = recorder();
    const h = harness(definition);
    h.startWorker();
    const relay = relayFor(h.transport);

    const jobId = await enqueueInTenantTransaction(h, definition, { n: 2 });
    // Nothing is published before the relay moves it.
    expect(await h.queue.count()).toBe(0);
    const [row, ...others] = await outboxRows();
    expect(others).toEqual([]);
    expect(row).toMatchObject({
      id: jobId,
      jobName: "record",
      jobKey: null,
      delayMs: 0,
      sentAt: null,
      envelope: {
        payload: { n: 2 },
        tenantId: scope.tenantId,
        userId: scope.userId,
        requestId: "req-outbox",
      },
    });

    // The tenant role may insert, never read or change, outbox rows.
    for (const statement of [
      sql`select * from job_outbox`,
      sql`update job_outbox set sent_at = now()`,
      sql`delete from job_outbox`,
    ]) {
      const error = await database
        .forTenant(scope)
        .transaction((tx) => tx.execute(statement))
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      expect(sqlStateOf(error)).toBe("42501");
    }

    expect(await relay.relayOnce()).toBe(1);
    // Relayed rows are deleted: the payload rests in the outbox only until it is queued.
    expect(await outboxRows()).toEqual([]);

    await waitFor("the job to run", () => runs.length > 0);
    expect(await relay.relayOnce()).toBe(0);
    await sleep(300);
    expect(runs).toEqual([
      { payload: { n: 2 }, jobId, tenantId: scope.tenantId, requestId: "req-outbox" },
    ]);
  });

  it("keeps a given jobId and delay through the outbox", async () => {
    const { definition, runs } = recorder();
    const h = harness(definition);
    h.startWorker();
    const relay = relayFor(h.transport);
    const returned = await database
      .forTenant(scope)
      .transaction((tx) =>
        h.jobs.enqueue(
          definition,
          { n: 3 },
          { transaction: tx, jobId: "welcome-mail-7", delayMs: 300 },
        ),
      );
    expect(returned).toBe("welcome-mail-7");
    expect(await outboxRows()).toMatchObject([{ jobKey: "welcome-mail-7", delayMs: 300 }]);

    const relayedAt = Date.now();
    expect(await relay.relayOnce()).toBe(1);
    expect(await (await h.queue.getJob("welcome-mail-7"))?.getState()).toBe("delayed");
    await waitFor("the delayed job to run", () => runs.length > 0);
    expect(Date.now() - relayedAt).toBeGreaterThanOrEqual(290);
    expect(runs).toMatchObject([{ jobId: "welcome-mail-7", payload: { n: 3 } }]);
  });

  it("relays in batches, and two relays side by side send each row once", async () => {
    const { definition, runs } = recorder();
    const h = harness(definition);
    h.startWorker({ concurrency: 5 });
    await database.forTenant(scope).transaction(async (tx) => {
      for (let n = 0; n < 5; n++) await h.jobs.enqueue(definition, { n }, { transaction: tx });
    });

    const small = relayFor(h.transport, { batchSize: 2 });
    expect(await small.relayOnce()).toBe(2);
    const [a, b] = [relayFor(h.transport), relayFor(h.secondTransport())];
    const moved = await Promise.all([a.relayOnce(), b.relayOnce()]);
    expect(moved[0] + moved[1]).toBe(3);
    expect(await outboxRows()).toEqual([]);

    await waitFor("five runs", () => runs.length >= 5);
    await sleep(300);
    expect(runs.map((each) => (each.payload as { n: number }).n).sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it("delivers committed rows while started, and stops cleanly", async () => {
    const { definition, runs } = recorder();
    const h = harness(definition);
    h.startWorker();
    const relay = relayFor(h.transport, { intervalMs: 50 });
    relay.start();
    await enqueueInTenantTransaction(h, definition, { n: 4 });
    await waitFor("the running relay to deliver the job", () => runs.length > 0, {
      timeoutMs: 5_000,
    });
    await relay.stop();
    await enqueueInTenantTransaction(h, definition, { n: 5 });
    await sleep(300);
    expect(runs).toHaveLength(1);
    expect((await outboxRows()).map((row) => row.envelope.payload)).toEqual([{ n: 5 }]);
  });
});

describe("relay failures", () => {
  it("publishes again after dying between publishing and marking, and the job still runs once", async () => {
    const { definition, runs } = recorder();
    const h = harness(definition);
    h.startWorker();
    const jobId = await enqueueInTenantTransaction(h, definition, { n: 6 });

    const crashing = relayFor(h.transport, {
      afterPublish: async () => {
        throw new Error("crash");
      },
    });
    await expect(crashing.relayOnce()).rejects.toThrow("crash");
    expect(await outboxRows()).toMatchObject([{ id: jobId, sentAt: null }]);
    // It was published, under the outbox id, and runs.
    await waitFor("the first publication to run", () => runs.length > 0);

    const healthy = relayFor(h.transport);
    expect(await healthy.relayOnce()).toBe(1);
    expect(await outboxRows()).toEqual([]);
    await sleep(400);
    expect(runs).toEqual([
      { payload: { n: 6 }, jobId, tenantId: scope.tenantId, requestId: "req-outbox" },
    ]);
    expect(await h.queue.getJobCounts("completed", "waiting", "delayed", "active")).toMatchObject({
      completed: 1,
      waiting: 0,
      delayed: 0,
      active: 0,
    });
  });

  it("publishes again before the first publication has run, and it runs once", async () => {
    const { definition, runs } = recorder();
    const h = harness(definition);
    const jobId = await enqueueInTenantTransaction(h, definition, { n: 7 });
    await expect(
      relayFor(h.transport, {
        afterPublish: async () => {
          throw new Error("crash");
        },
      }).relayOnce(),
    ).rejects.toThrow("crash");
    expect(await relayFor(h.transport).relayOnce()).toBe(1);
    expect(await h.queue.getWaitingCount()).toBe(1);

    h.startWorker();
    await waitFor("the job to run", () => runs.length > 0);
    await sleep(300);
    expect(runs.map((each) => each.jobId)).toEqual([jobId]);
  });

  it("runs a job that leaves Redis when completed once, even when published again after it completed", async () => {
    const runs: string[] = [];
    const fleeting = defineJob({
      name: "fleeting",
      schema: z.object({ n: z.number() }),
      attempts: 1,
      keepCompleted: false,
      async handler(_payload, { jobId }) {
        runs.push(jobId);
      },
    });
    const h = harness(fleeting);
    h.startWorker();
    const jobId = await enqueueInTenantTransaction(h, fleeting, { n: 11 });
    await expect(
      relayFor(h.transport, {
        afterPublish: async () => {
          throw new Error("crash");
        },
      }).relayOnce(),
    ).rejects.toThrow("crash");
    await waitFor("the job to run and leave the queue", async () => {
      return runs.length === 1 && (await h.queue.getJob(jobId)) === undefined;
    });
    const redis = h.connection();
    expect(await redis.exists(h.queue.toKey(jobId))).toBe(0);

    // The row is still there (the relay died before its commit): published again, not run.
    expect(await outboxRows()).toMatchObject([{ id: jobId }]);
    expect(await relayFor(h.transport).relayOnce()).toBe(1);
    expect(await outboxRows()).toEqual([]);
    await sleep(400);
    expect(runs).toEqual([jobId]);
    expect(await h.queue.getJobCounts("completed", "waiting", "delayed", "active")).toMatchObject({
      completed: 0,
      waiting: 0,
      delayed: 0,
      active: 0,
    });
  });

  it("keeps rows while Redis is unreachable, and a healthy relay delivers them later", async () => {
    const { definition, runs } = recorder();
    const h = harness(definition);
    h.startWorker();
    const jobId = await enqueueInTenantTransaction(h, definition, { n: 8 });

    const unreachable = new Redis("redis://127.0.0.1:1", {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    unreachable.on("error", () => {});
    const deadTransport = bullmqTransport({
      connection: unreachable,
      keyPrefix: h.keyPrefix,
      registry: h.registry,
    });
    deadTransport.queue.on("error", () => {});
    cleanups.push(async () => {
      await Promise.race([deadTransport.close().catch(() => {}), sleep(1_000)]);
      unreachable.disconnect();
    });

    const deadRelay = relayFor(deadTransport, { intervalMs: 50 });
    const started = performance.now();
    await expect(deadRelay.relayOnce()).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(await outboxRows()).toMatchObject([{ id: jobId, sentAt: null }]);

    // The running loop survives the failures, warns once, and keeps the row.
    deadRelay.start();
    await sleep(300);
    await deadRelay.stop();
    expect(logs.matching({ msg: "outbox relay failed; retrying" })).toHaveLength(1);
    expect(await outboxRows()).toMatchObject([{ id: jobId, sentAt: null }]);
    expect(runs).toEqual([]);

    expect(await relayFor(h.transport).relayOnce()).toBe(1);
    await waitFor("the job to run after the outage", () => runs.length > 0);
    expect(runs.map((each) => each.jobId)).toEqual([jobId]);
  });

  it("does not let a row the queue refuses hold up the rows behind it", async () => {
    // BullMQ refuses custom job ids containing ":" (and integer ids); the outbox stores any.
    const { definition, runs } = recorder();
    const h = harness(definition);
    h.startWorker();
    const relay = relayFor(h.transport);

    await database
      .forTenant(scope)
      .transaction((tx) =>
        h.jobs.enqueue(definition, { n: 9 }, { transaction: tx, jobId: "invite:42" }),
      )
      .catch(() => "refused at enqueue: fine");
    const goodId = await enqueueInTenantTransaction(h, definition, { n: 10 });

    for (let i = 0; i < 3; i++) await relay.relayOnce().catch(() => 0);
    await waitFor("the good job to run", () => runs.some((each) => each.jobId === goodId), {
      timeoutMs: 3_000,
    });
  });
});

describe("outbox maintenance", () => {
  /**
   * Rows an earlier version of the relay marked sent and kept (25 hours ago, a minute ago), and
   * one never sent (created 48 hours ago).
   */
  async function legacyRows() {
    const ids = { old: newId(), recent: newId(), unsent: newId() };
    await database.bypassTenantIsolation("test setup", async (db) => {
      await db
        .insert(jobOutbox)
        .values(
          Object.values(ids).map((id) => ({ id, jobName: "record", envelope: { payload: {} } })),
        );
      await db
        .update(jobOutbox)
        .set({ sentAt: sql`now() - interval '25 hours'` })
        .where(eq(jobOutbox.id, ids.old));
      await db
        .update(jobOutbox)
        .set({ sentAt: sql`now() - interval '1 minute'` })
        .where(eq(jobOutbox.id, ids.recent));
      await db
        .update(jobOutbox)
        .set({ createdAt: sql`now() - interval '48 hours'` })
        .where(eq(jobOutbox.id, ids.unsent));
    });
    return ids;
  }

  it("does not relay again rows an earlier version marked sent", async () => {
    const ids = await legacyRows();
    const { definition, runs } = recorder();
    const h = harness(definition);
    expect(await relayFor(h.transport).relayOnce()).toBe(1);
    expect((await outboxRows()).map((row) => row.id).sort()).toEqual([ids.old, ids.recent].sort());
    expect((await h.queue.getWaiting()).map((job) => job.id)).toEqual([ids.unsent]);
    expect(runs).toEqual([]);
  });

  it("cleanup-expired-tokens runs every cleanup in its list, the outbox's included", async () => {
    const ids = await legacyRows();
    const calls: { now: Date; visibleRows: number }[] = [];
    const probe: ExpiredRowsCleanup = {
      name: "probe rows",
      async run(db, now) {
        // Runs as app_system: it sees every outbox row.
        const rows = await db.select().from(jobOutbox);
        calls.push({ now, visibleRows: rows.length });
        return 0;
      },
    };
    const cleanupExpired = createCleanupExpiredJob([sentOutboxCleanup, probe]);
    const h = harness(cleanupExpired);
    h.startWorker();
    const jobId = await h.jobs.enqueue(cleanupExpired, {});
    await waitFor("the cleanup to complete", async () => {
      const job = await h.queue.getJob(jobId);
      return (await job?.getState()) === "completed";
    });
    // Rows kept by an earlier relay go whatever their age; the unsent one stays.
    expect((await outboxRows()).map((row) => row.id)).toEqual([ids.unsent]);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.visibleRows).toBe(1);
    expect(
      logs.matching({ msg: "deleted expired rows", cleanup: "sent outbox rows" }),
    ).toMatchObject([{ deleted: 2 }]);
    expect(logs.matching({ msg: "deleted expired rows", cleanup: "probe rows" })).toMatchObject([
      { deleted: 0 },
    ]);
  });

  it("schedules the daily cleanup as a cron", () => {
    const cleanupExpired = createCleanupExpiredJob([sentOutboxCleanup]);
    expect(
      maintenanceCrons(cleanupExpired).map((cron) => [cron.name, cron.pattern, cron.job]),
    ).toEqual([["cleanup-expired-tokens", "0 3 * * *", cleanupExpired]]);
  });
});
