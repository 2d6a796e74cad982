import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { asc } from "drizzle-orm";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Database, newId, openDatabase } from "../../src/core/database/index.js";
import {
  createOutboxRelay,
  type JobTransport,
  jobOutbox,
  type OutgoingJob,
} from "../../src/core/jobs/index.js";
import { createLogger } from "../../src/core/logging/index.js";
import { isolatedRedisKeyPrefix, TEST_REDIS_URL, testConfig } from "../helpers/app.js";
import { sleep, waitFor } from "../helpers/jobs.js";
import { LogCapture } from "../helpers/log-capture.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

/**
 * Stopping the outbox relay, and the worker process, when a relay pass hangs (a queue that does
 * not answer, a database connection stuck behind a restarting server): the stop gives up on the
 * pass after its bound, the pass's rows stay in the outbox, and the worker exits within
 * SHUTDOWN_TIMEOUT_MS with code 0.
 */

const ABANDONED =
  "outbox relay pass still running at stop; abandoning it (its rows stay in the outbox)";

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

const cleanups: (() => Promise<unknown>)[] = [];
beforeEach(() =>
  database.bypassTenantIsolation("test reset", (db) => db.delete(jobOutbox).then(() => {})),
);
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  logs.clear();
});

const outboxIds = () =>
  database
    .bypassTenantIsolation("test inspection", (db) =>
      db.select({ id: jobOutbox.id }).from(jobOutbox).orderBy(asc(jobOutbox.id)),
    )
    .then((rows) => rows.map((row) => row.id));

async function insertOutboxRows(count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => newId()).sort();
  await database.bypassTenantIsolation("test setup", (db) =>
    db
      .insert(jobOutbox)
      .values(ids.map((id) => ({ id, jobName: "anything", envelope: { payload: {} } }))),
  );
  return ids;
}

/** A transport whose publish never settles until `release` (called by the cleanup). */
function hangingTransport() {
  const published: OutgoingJob[] = [];
  let release: (error: Error) => void = () => {};
  const hang = new Promise<void>((_, reject) => {
    release = reject;
  });
  const transport: JobTransport = {
    kind: "bullmq",
    publish(job) {
      published.push(job);
      return hang;
    },
    close: async () => {},
  };
  return { transport, published, release: () => release(new Error("queue gone")) };
}

/** `stop` with a deadline of its own, so a stop that hangs fails the test instead of timing out. */
async function timedStop(stop: () => Promise<void>, limitMs: number) {
  const started = performance.now();
  const outcome = await Promise.race([
    stop().then(() => "stopped"),
    sleep(limitMs).then(() => "hung"),
  ]);
  return { outcome, elapsedMs: performance.now() - started };
}

describe("stopping a relay whose pass hangs", () => {
  it("gives up on a publish that never settles after the bound, and the rows stay", async () => {
    const ids = await insertOutboxRows(2);
    const { transport, published, release } = hangingTransport();
    const relay = createOutboxRelay({ database, transport, logger, intervalMs: 20 });
    cleanups.push(async () => {
      release();
      await relay.stop();
    });
    relay.start();
    await waitFor("the relay to publish", () => published.length > 0);

    const { outcome, elapsedMs } = await timedStop(() => relay.stop({ waitMs: 300 }), 3_000);
    expect(outcome).toBe("stopped");
    expect(elapsedMs).toBeGreaterThanOrEqual(250);
    expect(elapsedMs).toBeLessThan(1_500);
    expect(logs.matching({ level: "warn", msg: ABANDONED })).toHaveLength(1);
    expect(await outboxIds()).toEqual(ids);

    // The abandoned pass fails once the queue answers: its transaction rolls back.
    release();
    await sleep(100);
    expect(await outboxIds()).toEqual(ids);
  });

  it("gives up on a database statement that waits for a lock, and the rows stay", async () => {
    const ids = await insertOutboxRows(1);
    const published: OutgoingJob[] = [];
    const transport: JobTransport = {
      kind: "bullmq",
      publish: async (job) => {
        published.push(job);
        throw new Error("queue down");
      },
      close: async () => {},
    };
    // Another session holds the table: the relay's select waits, as behind a restarting server.
    const blocker = new pg.Client({ connectionString: testDatabase.url });
    await blocker.connect();
    await blocker.query("begin; lock table job_outbox in access exclusive mode");
    cleanups.push(async () => {
      await blocker.query("rollback").catch(() => {});
      await blocker.end();
    });
    const relay = createOutboxRelay({ database, transport, logger, intervalMs: 20 });
    cleanups.push(() => relay.stop());
    relay.start();
    await waitFor("the relay to wait for the lock", async () => {
      const { rows } = await blocker.query<{ waiting: number }>(
        "select count(*)::int as waiting from pg_locks where not granted and relation = 'job_outbox'::regclass",
      );
      return rows[0]?.waiting === 1;
    });

    const { outcome, elapsedMs } = await timedStop(() => relay.stop({ waitMs: 300 }), 3_000);
    expect(outcome).toBe("stopped");
    expect(elapsedMs).toBeLessThan(1_500);
    expect(logs.matching({ level: "warn", msg: ABANDONED })).toHaveLength(1);
    expect(published).toHaveLength(0);

    await blocker.query("rollback");
    await waitFor("the abandoned pass to end", () => published.length > 0);
    await sleep(100);
    expect(await outboxIds()).toEqual(ids);
  });

  it("waits for a pass that ends within the bound, without a warning", async () => {
    await insertOutboxRows(1);
    const published: OutgoingJob[] = [];
    const transport: JobTransport = {
      kind: "bullmq",
      publish: async (job) => {
        await sleep(150);
        published.push(job);
      },
      close: async () => {},
    };
    const relay = createOutboxRelay({ database, transport, logger, intervalMs: 20 });
    relay.start();
    await sleep(50);
    await relay.stop({ waitMs: 2_000 });
    expect(published).toHaveLength(1);
    expect(await outboxIds()).toEqual([]);
    expect(logs.matching({ msg: ABANDONED })).toHaveLength(0);
  });
});

describe("the worker process", () => {
  const root = fileURLToPath(new URL("../../", import.meta.url));

  it("exits with 0 within SHUTDOWN_TIMEOUT_MS while its relay pass waits for the database", async () => {
    const ids = await insertOutboxRows(1);
    const blocker = new pg.Client({ connectionString: testDatabase.url });
    await blocker.connect();
    cleanups.push(async () => {
      await blocker.query("rollback").catch(() => {});
      await blocker.end();
    });
    // Taken before the worker starts: its relay's first pass, at start-up, would otherwise race
    // the lock, and a pass that wins relays the row before the test holds the table.
    await blocker.query("begin; lock table job_outbox in access exclusive mode");

    const shutdownTimeoutMs = 2_000;
    const child = spawn(process.execPath, ["--import", "tsx", "src/worker.ts"], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: testDatabase.tenantUrl,
        DATABASE_SYSTEM_URL: testDatabase.systemUrl,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: isolatedRedisKeyPrefix(),
        LOG_LEVEL: "info",
        LOG_PRETTY: "false",
        SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
        // Longer than the whole shutdown: only giving up on the pass lets the worker exit.
        DATABASE_STATEMENT_TIMEOUT_MS: "60000",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => {
      child.once("exit", (code) => resolve({ code, at: performance.now() }));
    });
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });

    await waitFor("the worker to start", () => output.includes('"msg":"worker started"'), {
      timeoutMs: 45_000,
    });
    await waitFor("the worker's relay to wait for the lock", async () => {
      const { rows } = await blocker.query<{ waiting: number }>(
        "select count(*)::int as waiting from pg_locks where not granted and relation = 'job_outbox'::regclass",
      );
      return rows[0]?.waiting === 1;
    });

    const signalled = performance.now();
    child.kill("SIGTERM");
    const exit = await Promise.race([exited, sleep(15_000).then(() => undefined)]);
    expect(exit, output).toBeDefined();
    expect(exit?.code, output).toBe(0);
    expect((exit?.at ?? 0) - signalled).toBeLessThan(shutdownTimeoutMs + 1_000);
    expect(output).toContain(ABANDONED);
    expect(output).toContain('"msg":"worker stopped"');

    await blocker.query("rollback");
    expect(await outboxIds()).toEqual(ids);
  }, 60_000);
});
