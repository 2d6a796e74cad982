import { drizzle } from "drizzle-orm/node-postgres";
import type { z } from "zod";
import type { SystemTx, TenantTx } from "../database/index.js";
import { newId } from "../database/index.js";
import { currentContext } from "../logging/index.js";
import { traceCarrier, withSpan } from "../observability/tracing.js";
import type { JobDefinition, JobEnvelope, JobRegistry } from "./define.js";
import { jobOutbox } from "./outbox.table.js";
import type { JobTransport } from "./transport.js";

interface EnqueueOptions {
  /** Run no earlier than this many milliseconds from now. */
  delayMs?: number;
  /** Deduplicates: a second job with the same id is ignored while the first is kept. */
  jobId?: string;
  /**
   * The database transaction this job belongs to. The job is written to the outbox in it, so
   * it runs only if the transaction commits (and then exactly once).
   */
  transaction?: TenantTx | SystemTx;
}

export interface Jobs {
  /** Validates the payload and queues the job; returns its id. */
  enqueue<Schema extends z.ZodType>(
    job: JobDefinition<Schema>,
    payload: z.input<Schema>,
    options?: EnqueueOptions,
  ): Promise<string>;
  readonly transport: JobTransport;
}

/**
 * Builds the outbox insert without a connection, so one statement serves both kinds of
 * transaction: a tenant transaction has no builder for a table that is not a tenant's, and may
 * only insert into this one (the tenant travels in the envelope).
 */
const outboxBuilder = drizzle.mock();

/** BullMQ refuses ids that contain ":" or are plain integers. */
const VALID_JOB_ID = /^(?!\d+$)[A-Za-z0-9_-]{1,200}$/;

export class UnknownJobError extends Error {
  constructor(name: string) {
    super(`Job "${name}" is not registered`);
    this.name = "UnknownJobError";
  }
}

/**
 * Enqueues jobs. The tenant, user and request of the current context travel with the job, so
 * its handler runs for the same tenant and its logs carry the same request id.
 */
export function createJobs(options: { registry: JobRegistry; transport: JobTransport }): Jobs {
  return {
    transport: options.transport,
    async enqueue(job, payload, enqueueOptions = {}) {
      if (!options.registry.has(job)) throw new UnknownJobError(job.name);
      // Refuse bad payloads here, where the caller can still be told.
      job.schema.parse(payload);
      if (enqueueOptions.jobId !== undefined && !VALID_JOB_ID.test(enqueueOptions.jobId)) {
        // The queue refuses such ids; refused here, they cannot block the outbox later.
        throw new Error(`Invalid job id "${enqueueOptions.jobId}": use letters, digits, - and _`);
      }
      const delayMs = Math.max(0, Math.round(enqueueOptions.delayMs ?? 0));
      const id = newId();
      const attributes = {
        "job.name": job.name,
        "job.id": enqueueOptions.jobId ?? id,
        "job.delay_ms": delayMs,
        "job.outbox": enqueueOptions.transaction !== undefined,
      };
      return withSpan(`enqueue ${job.name}`, { kind: "producer", attributes }, async () => {
        const context = currentContext();
        const trace = traceCarrier();
        const envelope: JobEnvelope = {
          // Secrets are sealed before the payload is stored anywhere (outbox row, queue).
          payload: job.sealing ? job.sealing.seal(payload) : payload,
          ...(context?.tenantId ? { tenantId: context.tenantId } : {}),
          ...(context?.userId ? { userId: context.userId } : {}),
          ...(context?.requestId ? { requestId: context.requestId } : {}),
          // The job's spans continue this one, wherever and whenever it runs.
          ...(trace ? { trace } : {}),
        };
        if (enqueueOptions.transaction) {
          const insert = outboxBuilder
            .insert(jobOutbox)
            .values({
              id,
              jobName: job.name,
              envelope,
              jobKey: enqueueOptions.jobId ?? null,
              delayMs,
            })
            .getSQL();
          await enqueueOptions.transaction.execute(insert);
          return enqueueOptions.jobId ?? id;
        }
        const jobId = enqueueOptions.jobId ?? id;
        await options.transport.publish({ name: job.name, envelope, jobId, delayMs });
        return jobId;
      });
    },
  };
}
