/**
 * Jobs published to BullMQ on Redis. Not exported by index.ts: the worker imports it, and the
 * API only at its first publication (deferredTransport in transport.ts), so a process that
 * never publishes does not load BullMQ.
 */
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { traceCarrier, withSpan } from "../observability/tracing.js";
import type { JobRegistry } from "./define.js";
import { MARKER_TTL_SECONDS } from "./once.js";
import { type JobTransport, type OutgoingJob, QUEUE_NAME, queuePrefix } from "./transport.js";

/**
 * Completed jobs (or, for jobs that are not kept, a marker of their id) stay this long, so a job
 * id published twice within it runs once.
 */
const KEEP_COMPLETED_SECONDS = MARKER_TTL_SECONDS;

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
