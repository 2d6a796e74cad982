export {
  type AnyJob,
  type CronDefinition,
  defineCron,
  defineJob,
  type JobContext,
  type JobDefinition,
  type JobEnvelope,
  JobRegistry,
  type PayloadSealing,
} from "./define.js";
export { createJobs, type EnqueueOptions, type Jobs, UnknownJobError } from "./jobs.js";
export {
  createCleanupExpiredJob,
  type ExpiredRowsCleanup,
  maintenanceCrons,
  sentOutboxCleanup,
} from "./maintenance.js";
export { jobOutbox } from "./outbox.table.js";
export { createOutboxRelay, type OutboxRelay } from "./relay.js";
export { InvalidJobPayloadError, JobTimeoutError } from "./run-job.js";
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
