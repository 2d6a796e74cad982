export {
  type AnyJob,
  type CronDefinition,
  defineCron,
  defineJob,
  /** @public The context a job's handler gets (docs/jobs.md). */
  type JobContext,
  JobRegistry,
} from "./define.js";
export { createJobs, type Jobs, UnknownJobError } from "./jobs.js";
export {
  createCleanupExpiredJob,
  type ExpiredRowsCleanup,
  maintenanceCrons,
  sentOutboxCleanup,
} from "./maintenance.js";
export { jobOutbox } from "./outbox.table.js";
export { createOutboxRelay, type OutboxRelay } from "./relay.js";
export { JobTimeoutError } from "./run-job.js";
export { settlesWithin } from "./settles-within.js";
// bullmq-transport.ts and worker.ts load BullMQ: the processes that use the queue import them
// by their paths, so an API that never publishes to the queue does not carry it.
export {
  deferredTransport,
  inProcessTransport,
  type JobTransport,
  type OutgoingJob,
  QUEUE_NAME,
  queuePrefix,
} from "./transport.js";
