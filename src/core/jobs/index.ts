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
export {
  bullmqTransport,
  inProcessTransport,
  type JobTransport,
  type OutgoingJob,
  QUEUE_NAME,
  queuePrefix,
} from "./transport.js";
export { createJobWorker, type JobWorker, retryFailedJobs, scheduleCrons } from "./worker.js";
