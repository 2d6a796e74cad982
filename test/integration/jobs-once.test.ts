import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Database, openDatabase } from "../../src/core/database/index.js";
import { defineJob, inProcessTransport, JobRegistry } from "../../src/core/jobs/index.js";
import { createLogger } from "../../src/core/logging/index.js";
import {
  createSendEmailJob,
  type Mailer,
  messageIdFor,
  smtpMailer,
} from "../../src/core/mail/index.js";
import { TEST_REDIS_URL, testConfig } from "../helpers/app.js";
import { createQueueHarness, type QueueHarness, waitFor } from "../helpers/jobs.js";
import { LogCapture } from "../helpers/log-capture.js";
import { type SmtpSink, startSmtpSink } from "../helpers/smtp-sink.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

/**
 * A job that runs again after a step with a side effect (its worker was killed after the SMTP
 * server accepted a mail but before BullMQ recorded the job as completed, and BullMQ's stalled
 * check ran it again) does not repeat that step: `context.once` records it in Redis. Mail goes
 * through the real SMTP mailer to a local SMTP server, jobs through BullMQ on the real Redis.
 *
 * The rerun is made by publishing the same job id again once BullMQ's marker of the completed
 * id is removed: the handler then runs with the same job id, as after a stalled-job recovery.
 */

const secretKey = "integration-test-secret-0123456789-abcdefgh";
const from = "Acme <no-reply@acme.example>";
const payload = {
  to: "ada@example.com",
  template: "password-reset" as const,
  data: { name: "Ada", link: "https://app.example.com/reset?token=abc" },
};

let testDatabase: TestDatabase;
let database: Database;
let sink: SmtpSink;
let mailer: Mailer;
let h: QueueHarness;
let redis: Redis;
const logs = new LogCapture();
const logger = createLogger(testConfig({ LOG_LEVEL: "info" }), logs);

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  database = await openDatabase(testConfig({ DATABASE_URL: testDatabase.url }), logger);
  sink = await startSmtpSink();
  mailer = smtpMailer({ smtpUrl: sink.smtpUrl, from });
  h = createQueueHarness({
    definitions: [createSendEmailJob({ mailer, secretKey })],
    database,
    logger,
  });
  h.startWorker();
  redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  await h?.close();
  if (redis) {
    const markers = await redis.keys(`${h.keyPrefix}job-once:*`);
    if (markers.length > 0) await redis.del(...markers);
    await redis.quit();
  }
  await mailer?.close();
  await sink?.close();
  await database?.close();
  await testDatabase?.drop();
});

afterEach(() => logs.clear());

const sendEmail = () => {
  const job = h.registry.get("send-email");
  if (!job) throw new Error("send-email is not registered");
  return job;
};
const mailsFor = (jobId: string) =>
  sink.received.filter((mail) => mail.messageId === `<send-email.${jobId}@acme.example>`);
const markerKey = (jobId: string) => `${h.keyPrefix}job-once:${jobId}:sent`;
const completed = (jobId: string) =>
  waitFor(`job ${jobId} to complete`, async () =>
    logs.lines.some((line) => line.jobId === jobId && line.msg === "job completed")
      ? true
      : undefined,
  );

/** Runs the job `jobId` again, as BullMQ does with a job whose worker died. */
async function runAgain(jobId: string) {
  logs.clear();
  await h.queue.removeDeduplicationKey(jobId);
  await h.jobs.enqueue(sendEmail(), payload, { jobId });
  await completed(jobId);
}

describe("send-email run twice for one job id", () => {
  it("sends the mail once, and says so when it runs again", async () => {
    const before = sink.received.length;
    await h.jobs.enqueue(sendEmail(), payload, { jobId: "mail-once" });
    await completed("mail-once");
    expect(sink.received.length).toBe(before + 1);
    expect(sink.received.at(-1)?.recipients).toEqual([payload.to]);
    const ttl = await redis.ttl(markerKey("mail-once"));
    expect(ttl).toBeGreaterThan(7 * 24 * 3600 - 60);
    expect(ttl).toBeLessThanOrEqual(7 * 24 * 3600);

    await runAgain("mail-once");
    expect(sink.received.length).toBe(before + 1);
    expect(
      logs.matching({
        jobId: "mail-once",
        level: "info",
        msg: "mail already sent for this job; not sending again",
      }),
    ).toHaveLength(1);
  });

  it("sends the same Message-ID on every attempt when the record is gone", async () => {
    await h.jobs.enqueue(sendEmail(), payload, { jobId: "mail-same-id" });
    await completed("mail-same-id");
    // The window that stays: a crash after the server accepted, before the record was written.
    expect(await redis.del(markerKey("mail-same-id"))).toBe(1);
    await runAgain("mail-same-id");
    const mails = mailsFor("mail-same-id");
    expect(mails).toHaveLength(2);
    expect(mails[0]?.messageId).toBe("<send-email.mail-same-id@acme.example>");
    expect(mails[1]?.messageId).toBe(mails[0]?.messageId);
  });

  it("sends another job's mail, with its own Message-ID", async () => {
    await h.jobs.enqueue(sendEmail(), payload, { jobId: "mail-first" });
    await completed("mail-first");
    await h.jobs.enqueue(sendEmail(), payload, { jobId: "mail-second" });
    await completed("mail-second");
    expect(mailsFor("mail-first")).toHaveLength(1);
    expect(mailsFor("mail-second")).toHaveLength(1);
  });
});

describe("context.once", () => {
  const stepRuns: string[] = [];
  const failsAfterItsStep = defineJob({
    name: "fails-after-its-step",
    schema: z.object({}),
    attempts: 3,
    backoff: { type: "fixed", delayMs: 20 },
    async handler(_payload, { jobId, attempt, once }) {
      const ran = await once("step", async () => void stepRuns.push(jobId));
      expect(ran).toBe(attempt === 1);
      if (attempt === 1) throw new Error("fails after its step");
    },
  });

  it("does not repeat a step on a retry, in a worker", async () => {
    const harness = createQueueHarness({ definitions: [failsAfterItsStep], database, logger });
    try {
      harness.startWorker();
      await harness.jobs.enqueue(failsAfterItsStep, {}, { jobId: "step-worker" });
      await waitFor("the retry to complete", async () =>
        (await harness.queue.getJobState("step-worker")) === "completed" ? true : undefined,
      );
      expect(stepRuns.filter((id) => id === "step-worker")).toHaveLength(1);
    } finally {
      const markers = await redis.keys(`${harness.keyPrefix}job-once:*`);
      if (markers.length > 0) await redis.del(...markers);
      await harness.close();
    }
  });

  it("does not repeat a step on a retry, in-process (markers in memory)", async () => {
    const transport = inProcessTransport({
      registry: new JobRegistry([failsAfterItsStep]),
      database,
      logger,
    });
    try {
      await transport.publish({
        name: failsAfterItsStep.name,
        envelope: { payload: {} },
        jobId: "step-in-process",
        delayMs: 0,
      });
      await transport.idle();
      expect(stepRuns.filter((id) => id === "step-in-process")).toHaveLength(1);
      expect(transport.failed).toHaveLength(0);
    } finally {
      await transport.close();
    }
  });
});

describe("messageIdFor", () => {
  it("puts the key before the sender's domain, encoding what a Message-ID does not allow", () => {
    expect(messageIdFor("send-email.abc_1", from)).toBe("<send-email.abc_1@acme.example>");
    expect(messageIdFor("repeat:a(b)", "no-reply@acme.example")).toBe(
      "<repeat%3Aa%28b%29@acme.example>",
    );
    expect(messageIdFor("k", "Agency Kit <no-reply@localhost>")).toBe("<k@localhost>");
    expect(messageIdFor("k", "nobody")).toBe("<k@localhost>");
  });
});
