import type { FastifyBaseLogger } from "fastify";
import type { Database } from "../database/index.js";
import { runWithContext } from "../logging/index.js";
import { observeJobRun } from "../observability/kit-metrics.js";
import { withSpan } from "../observability/tracing.js";
import type { AnyJob, JobEnvelope } from "./define.js";
import type { JobMarkers } from "./once.js";

export class JobTimeoutError extends Error {
  constructor(name: string, timeoutMs: number) {
    super(`job ${name} exceeded its timeout of ${timeoutMs} ms`);
    this.name = "JobTimeoutError";
  }
}

/** A payload that fails its schema at run time will fail the same way on every retry. */
export class InvalidJobPayloadError extends Error {
  constructor(name: string, detail: string) {
    super(`job ${name} has an invalid payload: ${detail}`);
    this.name = "InvalidJobPayloadError";
  }
}

export interface RunJobInput {
  definition: AnyJob;
  envelope: JobEnvelope;
  jobId: string;
  attempt: number;
  database: Database;
  logger: FastifyBaseLogger;
  /** Where `context.once` records the steps done (Redis for the worker, memory in-process). */
  markers: JobMarkers;
  /** Aborted on worker shutdown. */
  signal?: AbortSignal;
}

/**
 * Runs one attempt of a job: validates the payload, restores the context it was enqueued in
 * (logs and cache keys carry its tenant and request), binds the database to its tenant, and
 * enforces the timeout. Throws on failure; the caller decides about retries.
 */
export function runJob(input: RunJobInput): Promise<void> {
  const { envelope, jobId } = input;
  // The job runs in the context it was enqueued in: log lines and cache keys carry its tenant.
  const context = {
    requestId: envelope.requestId ?? jobId,
    ip: "job",
    ...(envelope.tenantId ? { tenantId: envelope.tenantId } : {}),
    ...(envelope.userId ? { userId: envelope.userId } : {}),
  };
  // A span in the trace of whoever enqueued it (tracing on), on every attempt.
  const attributes = {
    "job.name": input.definition.name,
    "job.id": jobId,
    "job.attempt": input.attempt,
    "tenant.id": envelope.tenantId,
    "user.id": envelope.userId,
  };
  return runWithContext(context, () =>
    withSpan(
      `job ${input.definition.name}`,
      { kind: "consumer", attributes, parent: envelope.trace },
      () => runInContext(input),
    ),
  );
}

async function runInContext(input: RunJobInput): Promise<void> {
  const { definition, envelope, jobId, attempt } = input;
  // Tenant, user and request id reach the log lines through the context (the log mixin).
  const log = input.logger.child({ job: definition.name, jobId, attempt });
  let payload = envelope.payload;
  if (definition.sealing) {
    try {
      payload = definition.sealing.open(envelope.payload);
    } catch {
      // Neither the stored payload nor the error (it could quote it) reaches the log.
      const error = new InvalidJobPayloadError(
        definition.name,
        "its sealed part cannot be opened (sealed with another SECRET_KEY, or altered)",
      );
      log.error({ err: error }, "job payload cannot be opened; it will not be retried");
      throw error;
    }
  }
  const parsed = definition.schema.safeParse(payload);
  if (!parsed.success) {
    const error = new InvalidJobPayloadError(definition.name, parsed.error.message);
    log.error({ err: error }, "job payload is invalid; it will not be retried");
    throw error;
  }
  const tenantDb = envelope.tenantId
    ? input.database.forTenant({
        tenantId: envelope.tenantId,
        userId: envelope.userId,
        requestId: envelope.requestId,
      })
    : undefined;

  const controller = new AbortController();
  const abortFromOutside = () => controller.abort(input.signal?.reason);
  input.signal?.addEventListener("abort", abortFromOutside, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new JobTimeoutError(definition.name, definition.timeoutMs);
      controller.abort(error);
      reject(error);
    }, definition.timeoutMs);
  });

  const once = async (step: string, fn: () => Promise<void>) => {
    // An unreadable record fails the attempt (it is retried) rather than risk a second run.
    if (await input.markers.has(jobId, step)) return false;
    await fn();
    try {
      await input.markers.set(jobId, step);
    } catch (error) {
      // The step is done: failing the attempt now would only make the retry do it again.
      log.warn({ err: error, step }, "job step done but not recorded; a rerun would repeat it");
    }
    return true;
  };

  const started = performance.now();
  try {
    await Promise.race([
      definition.handler(parsed.data, {
        jobId,
        attempt,
        log,
        signal: controller.signal,
        tenantDb,
        database: input.database,
        once,
      }),
      timeout,
    ]);
    const elapsed = performance.now() - started;
    observeJobRun(definition.name, "completed", elapsed / 1000);
    log.info({ durationMs: Math.round(elapsed) }, "job completed");
  } catch (error) {
    const elapsed = performance.now() - started;
    observeJobRun(definition.name, "failed", elapsed / 1000);
    log.warn({ err: error, durationMs: Math.round(elapsed) }, "job failed");
    throw error;
  } finally {
    clearTimeout(timer);
    input.signal?.removeEventListener("abort", abortFromOutside);
  }
}

/** Milliseconds to wait before the given retry (1 = the first retry). */
export function backoffDelay(definition: AnyJob, retry: number): number {
  const { type, delayMs } = definition.backoff;
  return type === "fixed" ? delayMs : delayMs * 2 ** (retry - 1);
}
