import { setTimeout as sleep } from "node:timers/promises";
import closeWithGrace from "close-with-grace";
import type { FastifyInstance } from "fastify";
import { type CreateAppOptions, createApp } from "./app.js";
import type { Config } from "./config.js";

/**
 * Starts the HTTP server and wires graceful shutdown: on SIGTERM or SIGINT the server first
 * drains for SHUTDOWN_DRAIN_MS (readiness answers 503 while requests are still served, each
 * answer closing its connection), then stops accepting connections, lets in-flight requests
 * finish and closes its pools. If closing takes longer than SHUTDOWN_TIMEOUT_MS the process exits
 * with code 1.
 */
export async function startServer(
  config: Config,
  options: CreateAppOptions = {},
): Promise<FastifyInstance> {
  const app = await createApp(config, options);
  const delay = config.shutdownDrainMs + config.shutdownTimeoutMs;
  closeWithGrace({ delay }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, "shutting down after an uncaught error");
    else app.log.info({ signal }, "shutting down");
    // A crashed process has nothing worth draining for; a signalled one lets the balancer see it.
    if (!err && config.shutdownDrainMs > 0) {
      app.startDraining();
      await sleep(config.shutdownDrainMs);
    }
    await app.close();
    app.log.info("shutdown complete");
  });
  collectStartupGarbage(app);
  await app.listen({ host: config.host, port: config.port });
  return app;
}

/**
 * Starting leaves tens of MB of garbage (modules compiled, schemas and routes built) that V8
 * keeps until its first full collection, which an idle API may not run for a long time. Where
 * the process runs with --expose-gc (`npm start` and the image do), one collection before the
 * listener opens hands it back (docs/operations.md#memory). No request waits for it.
 */
function collectStartupGarbage(app: FastifyInstance): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (typeof collect !== "function") return;
  const megabytes = (bytes: number) => Math.round(bytes / 104_857.6) / 10;
  const before = process.memoryUsage().heapUsed;
  collect();
  // The heap shrinks at once; V8 hands the freed pages back to the system over the next seconds.
  app.log.info(
    {
      heapUsedBeforeMb: megabytes(before),
      heapUsedAfterMb: megabytes(process.memoryUsage().heapUsed),
    },
    "start-up garbage collected",
  );
}
