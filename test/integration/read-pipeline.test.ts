import type { Socket } from "node:net";
import type { FastifyBaseLogger } from "fastify";
import pg from "pg";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { isPipelinable } from "../../src/core/database/pg-driver.js";
import { PIPELINE_DEPTH, ReadPipeline } from "../../src/core/database/pg-read-pipeline.js";
import { statementName } from "../../src/core/database/pg-statement-batch.js";
import { AppError } from "../../src/core/errors/index.js";
import { isServiceUnavailable } from "../../src/core/errors/unavailable.js";
import { TEST_DATABASE_URL } from "../helpers/app.js";

/**
 * The read pipeline (src/core/database/pg-read-pipeline.ts) against the real PostgreSQL: the
 * batches of concurrent requests share a connection, and each must still be a transaction of
 * its own whose settings reach nobody else, whose failure stops nobody else.
 */

const logger = pino({ level: "silent" }) as unknown as FastifyBaseLogger;
const opened: ReadPipeline[] = [];
const APPLICATION_NAME = `kit-test-reads-${process.pid}`;

function pipeline(connections: number, waitMs = 5_000, answerWithinMs = 15_000): ReadPipeline {
  const created = new ReadPipeline(
    {
      url: TEST_DATABASE_URL,
      connections,
      applicationName: APPLICATION_NAME,
      waitMs,
      answerWithinMs,
    },
    logger,
  );
  opened.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((each) => each.close()));
});

/** A batch that sets a transaction-local value, then reads it back. */
const setThenRead = (value: string) => [
  { name: "", text: "select set_config('kit.test_value', $1, true)", values: [value] },
  { name: "", text: "select current_setting('kit.test_value', true) as value", values: [] },
];

const readValue = (results: { rows: Record<string, unknown>[] }[]) => results[1]?.rows[0]?.value;

async function backendPids(): Promise<number[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const result = await client.query<{ pid: number }>(
      "select pid from pg_stat_activity where application_name = $1",
      [APPLICATION_NAME],
    );
    return result.rows.map((row) => row.pid);
  } finally {
    await client.end();
  }
}

describe("the read pipeline", () => {
  it("keeps each batch's transaction-local settings to itself, in order, on one connection", async () => {
    const reads = pipeline(1);
    const values = Array.from({ length: 200 }, (_, index) => `value-${index}`);
    const results = await Promise.all(values.map((value) => reads.run(setThenRead(value))));
    expect(results.map(readValue)).toEqual(values);
    // A batch that sets nothing sees nothing the others set.
    const clean = await reads.run([
      { name: "", text: "select current_setting('kit.test_value', true) as value", values: [] },
    ]);
    expect(clean[0]?.rows[0]?.value ?? "").toBe("");
    expect(await backendPids()).toHaveLength(1);
  });

  it("fails only the batch that failed: those pipelined behind it run as usual", async () => {
    const reads = pipeline(1);
    const outcomes = await Promise.allSettled([
      reads.run(setThenRead("before")),
      reads.run([
        { name: "", text: "select set_config('kit.test_value', 'leaked', true)", values: [] },
        { name: "", text: "select 1 / 0", values: [] },
      ]),
      reads.run(setThenRead("after")),
      reads.run([
        { name: "", text: "select current_setting('kit.test_value', true) as value", values: [] },
        { name: "", text: "select current_setting('kit.test_value', true) as value", values: [] },
      ]),
    ]);
    expect(outcomes[0]).toMatchObject({ status: "fulfilled" });
    expect(outcomes[1]).toMatchObject({ status: "rejected", reason: { code: "22012" } });
    expect(outcomes[2].status === "fulfilled" && readValue(outcomes[2].value)).toBe("after");
    expect(outcomes[3].status === "fulfilled" && (readValue(outcomes[3].value) ?? "")).toBe("");
  });

  it("sends the batches submitted in one turn of the event loop in one write", async () => {
    const reads = pipeline(1);
    await reads.run(setThenRead("connect"));
    const [pid] = await backendPids();
    expect(pid).toBeDefined();
    // The lane's socket: the only one open to PostgreSQL with this pipeline's name.
    const socket = (reads as unknown as { lanes: { client: { connection: { stream: Socket } } }[] })
      .lanes[0]?.client.connection.stream;
    if (!socket) throw new Error("the lane has no socket");
    let writes = 0;
    const counted = socket as unknown as {
      _writev: (...args: unknown[]) => void;
      _write: (...args: unknown[]) => void;
    };
    const writev = counted._writev.bind(socket);
    const write = counted._write.bind(socket);
    counted._writev = (...args) => {
      writes++;
      writev(...args);
    };
    counted._write = (...args) => {
      writes++;
      write(...args);
    };
    const values = Array.from({ length: 20 }, (_, index) => `turn-${index}`);
    const results = await Promise.all(values.map((value) => reads.run(setThenRead(value))));
    expect(results.map(readValue)).toEqual(values);
    expect(writes).toBe(1);
  });

  it("passes over a lane that is stuck behind a slow batch", async () => {
    const reads = pipeline(2);
    await Promise.all([reads.run(setThenRead("a")), reads.run(setThenRead("b"))]);
    let slowDone = false;
    const slow = reads.run([{ name: "", text: "select pg_sleep(2)", values: [] }]).then(() => {
      slowDone = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Concurrent: by count alone, the slow lane would get every other one of them.
    const quick = Array.from({ length: 6 }, (_, index) => `quick-${index}`);
    const results = await Promise.all(quick.map((value) => reads.run(setThenRead(value))));
    expect(results.map(readValue)).toEqual(quick);
    expect(slowDone).toBe(false);
    await slow;
  });

  /** Fills a one-lane pipeline: a slow batch first, so every batch behind it stays in flight. */
  const fill = (reads: ReadPipeline) => [
    reads.run([{ name: "", text: "select pg_sleep(0.4)", values: [] }]),
    ...Array.from({ length: PIPELINE_DEPTH - 1 }, () => reads.run(setThenRead("queued"))),
  ];

  it("answers 503 when every lane is full for longer than the wait", async () => {
    const reads = pipeline(1, 150);
    const full = fill(reads);
    const refused = await reads.run(setThenRead("no room")).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: "service-unavailable" });
    await Promise.all(full);
    // Room again once they have been answered.
    expect(readValue(await reads.run(setThenRead("room")))).toBe("room");
  });

  it("lets a request wait for room within the wait", async () => {
    const reads = pipeline(1, 5_000);
    const full = fill(reads);
    expect(readValue(await reads.run(setThenRead("waited")))).toBe("waited");
    await Promise.all(full);
  });

  it("fails the batches of a lost connection as unavailable, then reconnects", async () => {
    const reads = pipeline(1);
    await reads.run(setThenRead("connect"));
    const inFlight = reads.run([{ name: "", text: "select pg_sleep(2)", values: [] }]).then(
      () => undefined,
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [pid] = await backendPids();
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query("select pg_terminate_backend($1)", [pid]);
    await admin.end();
    expect(isServiceUnavailable(await inFlight)).toBe(true);
    expect(readValue(await reads.run(setThenRead("again")))).toBe("again");
  });

  it("gives up a connection whose answer does not come in time, and the batches behind it", async () => {
    // As a network cut that leaves the socket open would: here a statement outlives the wait.
    const reads = pipeline(1, 5_000, 300);
    await reads.run(setThenRead("connect"));
    const started = performance.now();
    const outcomes = await Promise.allSettled([
      reads.run([{ name: "", text: "select pg_sleep(5)", values: [] }]),
      reads.run(setThenRead("behind")),
    ]);
    expect(performance.now() - started).toBeLessThan(4_000);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe("rejected");
      if (outcome.status === "rejected") expect(isServiceUnavailable(outcome.reason)).toBe(true);
    }
    expect(readValue(await reads.run(setThenRead("again")))).toBe("again");
  });

  it("keeps a connection whose batches were answered in time, however long ago", async () => {
    const reads = pipeline(1, 5_000, 300);
    const backend = async () =>
      (await reads.run([{ name: "", text: "select pg_backend_pid() as pid", values: [] }]))[0]
        ?.rows[0]?.pid;
    const before = await backend();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(readValue(await reads.run(setThenRead("later")))).toBe("later");
    expect(await backend()).toBe(before);
  });

  it("prepares a named statement again when the server no longer has it (26000)", async () => {
    const reads = pipeline(1);
    const text = "select $1::text as value";
    const named = { name: statementName("pipeline_test", text), text, values: ["first"] };
    expect((await reads.run([named]))[0]?.rows[0]?.value).toBe("first");
    // As when a transaction pooler hands the client another server connection.
    await reads.run([{ name: "", text: "deallocate all", values: [] }]);
    expect((await reads.run([{ ...named, values: ["second"] }]))[0]?.rows[0]?.value).toBe("second");
  });
});

describe("which statements are pipelined", () => {
  it("plain reads only: no writes, no reads that lock rows", () => {
    expect(isPipelinable('select "id" from "notes" where "id" = $1')).toBe(true);
    expect(isPipelinable('  SELECT "id" FROM "notes"')).toBe(true);
    expect(isPipelinable('insert into "notes" ("name") values ($1) returning "id"')).toBe(false);
    expect(isPipelinable('update "notes" set "name" = $1')).toBe(false);
    expect(isPipelinable('delete from "notes" where "id" = $1')).toBe(false);
    expect(isPipelinable('with gone as (delete from "notes") select 1')).toBe(false);
    expect(isPipelinable('select "id" from "notes" for update')).toBe(false);
    expect(isPipelinable('select "id" from "notes" for no key update')).toBe(false);
    expect(isPipelinable('select "id" from "notes" FOR SHARE')).toBe(false);
    expect(isPipelinable('select "id" from "notes" for key share skip locked')).toBe(false);
  });
});
