import { loadProcessConfig } from "./config.js";
import { startTracing, tracingDescription } from "./core/observability/tracing.js";

/**
 * The worker process (`npm run worker`): runs queued jobs with WORKER_CONCURRENCY at a time,
 * relays the transactional outbox to the queue, and registers the crons. Several workers may
 * run at once; each cron still runs once per tick. On SIGTERM it stops taking jobs, lets the
 * running ones finish within SHUTDOWN_TIMEOUT_MS, hands back the rest, and exits.
 */

const config = loadProcessConfig();
// Before the rest is imported: the instrumentations patch pg and ioredis as they load. Without
// an OTLP endpoint nothing of OpenTelemetry is loaded.
const tracing = await startTracing(config, { role: "worker" });
const [
  { default: closeWithGrace },
  { createInfrastructure },
  { settlesWithin },
  { createJobWorker, scheduleCrons },
  { createLogger },
  { observeQueue },
  { startMetricsServer },
] = await Promise.all([
  import("close-with-grace"),
  import("./infrastructure.js"),
  import("./core/jobs/index.js"),
  import("./core/jobs/worker.js"),
  import("./core/logging/index.js"),
  import("./core/observability/kit-metrics.js"),
  import("./core/observability/metrics-server.js"),
]);
const logger = createLogger(config, undefined, "worker");
if (!config.redisUrl) {
  logger.error(
    "The worker needs REDIS_URL. Without it (development), jobs run inside the API process.",
  );
  process.exit(78);
}

const infrastructure = await createInfrastructure(config, { role: "worker", logger });
const { background, database, relay, transport, workerConnection } = infrastructure;
observeQueue(transport.queue);
const metricsServer =
  config.workerMetricsPort === undefined
    ? undefined
    : await startMetricsServer({
        host: config.host,
        port: config.workerMetricsPort,
        token: config.metricsToken,
        logger,
      });
const worker = createJobWorker({
  registry: background.registry,
  connection: workerConnection,
  keyPrefix: config.redisKeyPrefix,
  concurrency: config.workerConcurrency,
  database,
  logger,
});

/** Waits for `step` until `deadline`; one still running then is logged and left behind. */
async function untilDeadline(what: string, step: Promise<unknown>, deadline: number) {
  const logged = step.catch((error: unknown) => {
    logger.warn({ err: error }, `${what} failed while shutting down`);
  });
  if (!(await settlesWithin(logged, deadline - Date.now()))) {
    logger.warn(
      { step: what },
      "shutdown step still running at SHUTDOWN_TIMEOUT_MS; abandoning it",
    );
  }
}

/**
 * The whole close sequence fits in SHUTDOWN_TIMEOUT_MS: running jobs get it minus a reserve
 * for closing the connections, and every step is abandoned at the deadline (the database's
 * close waits for checked-out connections, which a query stuck on a restarting server holds).
 * What is abandoned ends with the process: open transactions roll back, and their outbox rows
 * and handed-back jobs wait for the next worker.
 */
closeWithGrace({ delay: config.shutdownTimeoutMs + 5_000 }, async ({ signal, err }) => {
  if (err) logger.error({ err }, "worker shutting down after an uncaught error");
  else logger.info({ signal }, "worker shutting down");
  const deadline = Date.now() + config.shutdownTimeoutMs;
  const reserveMs = Math.min(2_000, config.shutdownTimeoutMs / 5);
  // The running jobs finish while the relay stops; then the queue, the mailer, the database
  // and the Redis connections close, in that order (src/infrastructure.ts).
  await infrastructure.close({
    drain: untilDeadline(
      "the job worker's close",
      worker.close(config.shutdownTimeoutMs - reserveMs),
      deadline,
    ),
    relayWaitMs: Math.min(5_000, config.shutdownTimeoutMs / 2),
    step: (what, closing) => untilDeadline(what, closing, deadline),
  });
  if (metricsServer)
    await untilDeadline("the metrics server's close", metricsServer.close(), deadline);
  // The last spans (the jobs that just ran) leave before the process does.
  if (tracing) await untilDeadline("the export of the last spans", tracing.shutdown(), deadline);
  logger.info("worker stopped");
});

await scheduleCrons(transport.queue, background.crons, logger);
relay.start();
logger.info(
  {
    concurrency: config.workerConcurrency,
    jobs: background.registry.all().map((job) => job.name),
    ...tracingDescription(),
  },
  "worker started",
);
