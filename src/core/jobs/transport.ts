import { Queue } from "bullmq";
import type { FastifyBaseLogger } from "fastify";
import type { Redis } from "ioredis";
import type { Database } from "../database/index.js";
import { countExhaustedJob } from "../observability/kit-metrics.js";
import { traceCarrier, withSpan } from "../observability/tracing.js";
import type { AnyJob, JobEnvelope, JobRegistry } from "./define.js";
import { MARKER_TTL_SECONDS, memoryJobMarkers } from "./once.js";
import { backoffDelay, InvalidJobPayloadError, runJob } from "./run-job.js";

/** A job on its way to a queue. */
export interface OutgoingJob {
  readonly name: string;
  readonly envelope: JobEnvelope;
  /** Unique per job: publishing the same id twice runs the job once. */
  readonly jobId: string;
  readonly delayMs: number;
}

/** Where jobs go: BullMQ on Redis, or this process for the embedded default. */
export interface JobTransport {
  readonly kind: "bullmq" | "in-process";
  publish(job: OutgoingJob): Promise<void>;
  close(): Promise<void>;
}

export const QUEUE_NAME = "jobs";
/**
 * Completed jobs (or, for jobs that are not kept, a marker of their id) stay this long, so a job
 * id published twice within it runs once.
 */
const KEEP_COMPLETED_SECONDS = MARKER_TTL_SECONDS;

/** BullMQ's key prefix, with a hash tag so a queue's keys share a Redis Cluster slot. */
export const queuePrefix = (keyPrefix: string) => `{${keyPrefix}bull}`;

export function bullmqTransport(options: {
  connection: Redis;
  keyPrefix: string;
  registry: JobRegistry;
}): JobTransport & { readonly queue: Queue } {
  const queue = new Queue(QUEUE_NAME, {
    connection: options.connection,
    prefix: queuePrefix(options.keyPrefix),
  });
  return {
    kind: "bullmq",
    queue,
    publish(job) {
      const attributes = {
        "messaging.system": "bullmq",
        "messaging.operation.type": "send",
        "messaging.destination.name": QUEUE_NAME,
        "messaging.message.id": job.jobId,
        "job.name": job.name,
      };
      return withSpan(`publish ${job.name}`, { kind: "producer", attributes }, () => add(job));
    },
    close: () => queue.close(),
  };

  async function add(job: OutgoingJob): Promise<void> {
    const definition = options.registry.get(job.name);
    const keepCompleted = definition?.keepCompleted ?? true;
    // The job's run continues this span's trace (tracing on).
    const trace = traceCarrier();
    await queue.add(job.name, trace ? { ...job.envelope, trace } : job.envelope, {
      jobId: job.jobId,
      delay: job.delayMs,
      // An unknown job (its code was removed) still reaches a worker, which fails it visibly.
      attempts: definition?.attempts ?? 1,
      ...(definition
        ? { backoff: { type: definition.backoff.type, delay: definition.backoff.delayMs } }
        : {}),
      ...(keepCompleted
        ? { removeOnComplete: { age: KEEP_COMPLETED_SECONDS } }
        : {
            // The run leaves Redis when it completes, payload and all; a marker of its id
            // alone (BullMQ's deduplication key) still refuses a second publication.
            removeOnComplete: true,
            deduplication: { id: job.jobId, ttl: KEEP_COMPLETED_SECONDS * 1000 },
          }),
      // Failed jobs stay until retried (npm run jobs -- retry-failed) or cleaned.
      removeOnFail: false,
    });
  }
}

/**
 * Runs jobs inside this process, with the same validation, context, timeout and retry rules as
 * the worker. For development without Redis only: nothing survives a restart.
 */
export function inProcessTransport(options: {
  registry: JobRegistry;
  database: Database;
  logger: FastifyBaseLogger;
}): JobTransport & { readonly failed: readonly OutgoingJob[]; idle(): Promise<void> } {
  const seen = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  const failed: OutgoingJob[] = [];
  const shutdown = new AbortController();
  // `context.once` records steps in memory: they cover this process's retries, and nothing
  // here survives a restart anyway.
  const markers = memoryJobMarkers();

  const schedule = (job: OutgoingJob, definition: AnyJob, attempt: number, delayMs: number) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      const run = runJob({
        definition,
        envelope: job.envelope,
        jobId: job.jobId,
        attempt,
        database: options.database,
        logger: options.logger,
        markers,
        signal: shutdown.signal,
      }).catch((error: unknown) => {
        const final = attempt >= definition.attempts || error instanceof InvalidJobPayloadError;
        if (final || shutdown.signal.aborted) {
          failed.push(job);
          countExhaustedJob(job.name);
          options.logger.error(
            { err: error, job: job.name, jobId: job.jobId },
            "job failed for good",
          );
        } else {
          schedule(job, definition, attempt + 1, backoffDelay(definition, attempt));
        }
      });
      running.add(run);
      void run.finally(() => running.delete(run));
    }, delayMs);
    timers.add(timer);
  };

  return {
    kind: "in-process",
    failed,
    async publish(job) {
      if (seen.has(job.jobId)) return;
      seen.add(job.jobId);
      const definition = options.registry.get(job.name);
      if (!definition) {
        // Like the worker: fail it visibly rather than block whoever published it (the relay).
        failed.push(job);
        countExhaustedJob(job.name);
        options.logger.error({ job: job.name, jobId: job.jobId }, "no such job is registered");
        return;
      }
      // The run continues the trace of whoever published it (tracing on).
      const trace = traceCarrier();
      schedule(
        trace ? { ...job, envelope: { ...job.envelope, trace } } : job,
        definition,
        1,
        job.delayMs,
      );
    },
    /** Resolves when no job is running or waiting to run (tests). */
    async idle() {
      while (timers.size > 0 || running.size > 0) {
        await Promise.all([...running]);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    async close() {
      shutdown.abort(new Error("shutting down"));
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...running]);
    },
  };
}
