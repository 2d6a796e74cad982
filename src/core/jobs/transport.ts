import type { FastifyBaseLogger } from "fastify";
import type { Database } from "../database/index.js";
import { countExhaustedJob } from "../observability/kit-metrics.js";
import { traceCarrier } from "../observability/tracing.js";
import type { AnyJob, JobEnvelope, JobRegistry } from "./define.js";
import { memoryJobMarkers } from "./once.js";
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

/** BullMQ's key prefix, with a hash tag so a queue's keys share a Redis Cluster slot. */
export const queuePrefix = (keyPrefix: string) => `{${keyPrefix}bull}`;

/**
 * A transport opened at its first publication. The API publishes to the queue only for jobs
 * enqueued outside a transaction (the kit's own go through the outbox, which the worker
 * relays), so it loads BullMQ and what BullMQ brings (about 5 MB of heap) only if it ever does.
 */
export function deferredTransport(
  kind: JobTransport["kind"],
  open: () => Promise<JobTransport>,
): JobTransport {
  let opened: Promise<JobTransport> | undefined;
  return {
    kind,
    async publish(job) {
      opened ??= open();
      return (await opened).publish(job);
    },
    async close() {
      if (opened) await (await opened).close();
    },
  };
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
