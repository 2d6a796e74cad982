import { type Job, type Queue, UnrecoverableError, WaitingError, Worker } from "bullmq";
import type { FastifyBaseLogger } from "fastify";
import type { Redis } from "ioredis";
import type { Database } from "../database/index.js";
import { countExhaustedJob } from "../observability/kit-metrics.js";
import type { CronDefinition, JobEnvelope, JobRegistry } from "./define.js";
import { redisJobMarkers } from "./once.js";
import { InvalidJobPayloadError, runJob } from "./run-job.js";
import { settlesWithin } from "./settles-within.js";
import { QUEUE_NAME, queuePrefix } from "./transport.js";

export interface JobWorker {
  readonly worker: Worker;
  /**
   * Stops taking jobs and waits for the running ones up to `timeoutMs`; jobs still running then
   * are handed back (their locks lapse and another worker retries them).
   */
  close(timeoutMs: number): Promise<void>;
}

/** A BullMQ worker that runs registered jobs with `concurrency` at a time. */
export function createJobWorker(options: {
  registry: JobRegistry;
  /** A connection for the worker alone (BullMQ blocks on it); maxRetriesPerRequest null. */
  connection: Redis;
  keyPrefix: string;
  concurrency: number;
  database: Database;
  logger: FastifyBaseLogger;
}): JobWorker {
  const shutdown = new AbortController();
  // BullMQ blocks on a duplicate of the connection, so commands on it are not held up.
  const markers = redisJobMarkers(options.connection, options.keyPrefix);
  const worker = new Worker(
    QUEUE_NAME,
    async (job: Job<JobEnvelope>, token?: string) => {
      const definition = options.registry.get(job.name);
      if (!definition) {
        options.logger.error({ job: job.name, jobId: job.id }, "no such job is registered");
        throw new UnrecoverableError(`No job named ${job.name} is registered`);
      }
      try {
        await runJob({
          definition,
          envelope: job.data,
          jobId: job.id ?? "",
          attempt: job.attemptsMade + 1,
          database: options.database,
          logger: options.logger,
          markers,
          signal: shutdown.signal,
        });
      } catch (error) {
        // Retrying cannot fix a payload that does not match the job's schema.
        if (error instanceof InvalidJobPayloadError) throw new UnrecoverableError(error.message);
        // Stopped by the shutdown: hand the job back to the queue without using an attempt.
        if (shutdown.signal.aborted) {
          await job.moveToWait(token);
          throw new WaitingError();
        }
        throw error;
      }
    },
    {
      connection: options.connection,
      prefix: queuePrefix(options.keyPrefix),
      concurrency: options.concurrency,
    },
  );
  worker.on("failed", (job, error) => {
    const final =
      !job || error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (final) {
      countExhaustedJob(job?.name ?? "unknown");
      options.logger.error(
        { err: error, job: job?.name, jobId: job?.id, attempts: job?.attemptsMade },
        "job failed for good; it stays in the failed set",
      );
    }
  });
  worker.on("error", (error) => options.logger.warn({ err: error }, "job worker error"));

  return {
    worker,
    async close(timeoutMs) {
      // Stop taking jobs, and wait for the running ones up to the timeout.
      const finished = await settlesWithin(worker.pause(false), timeoutMs);
      if (!finished) {
        options.logger.warn("jobs still running at the shutdown timeout; handing them back");
        // Handlers that honour the signal stop and are put back in the queue; the locks of
        // the others lapse and another worker retries them as stalled.
        shutdown.abort(new Error("worker shutting down"));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await worker.close(!finished);
    },
  };
}

/**
 * Registers each cron as a BullMQ job scheduler (an upsert, so every worker may call it at
 * start-up) and removes schedulers no longer defined. BullMQ creates one job per tick, however
 * many workers run.
 */
export async function scheduleCrons(
  queue: Queue,
  crons: readonly CronDefinition[],
  logger: FastifyBaseLogger,
): Promise<void> {
  const wanted = new Set(crons.map((cron) => cron.name));
  for (const cron of crons) {
    await queue.upsertJobScheduler(
      cron.name,
      { pattern: cron.pattern, tz: "UTC" },
      {
        name: cron.job.name,
        data: { payload: cron.payload } satisfies JobEnvelope,
        opts: {
          attempts: cron.job.attempts,
          backoff: { type: cron.job.backoff.type, delay: cron.job.backoff.delayMs },
          removeOnComplete: { age: 7 * 24 * 3600 },
          removeOnFail: false,
        },
      },
    );
  }
  for (const scheduler of await queue.getJobSchedulers()) {
    if (scheduler.key && !wanted.has(scheduler.key)) await queue.removeJobScheduler(scheduler.key);
  }
  logger.info({ crons: [...wanted] }, "cron schedules registered");
}

/**
 * Re-queues every job in the failed set with its attempt counters reset, so each gets its
 * full number of attempts again. Returns how many were re-queued.
 */
export async function retryFailedJobs(queue: Queue): Promise<number> {
  let retried = 0;
  for (;;) {
    // Retried jobs leave the failed set, so the first page is always the next one.
    const page = await queue.getFailed(0, 99);
    if (page.length === 0) return retried;
    for (const job of page) {
      await job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
      retried++;
    }
  }
}
