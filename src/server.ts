import { setTimeout as sleep } from "node:timers/promises";
import closeWithGrace from "close-with-grace";
import type { FastifyInstance } from "fastify";
import { type CreateAppOptions, createApp } from "./app.js";
import type { Config } from "./config.js";
import { collectAfterQuietSpells, collectStartupGarbage } from "./memory.js";

/**
 * Starts the HTTP server and wires graceful shutdown: on SIGTERM or SIGINT the server first
 * drains for SHUTDOWN_DRAIN_MS (readiness answers 503 while requests are still served, each
 * answer closing its connection), then stops accepting connections, lets in-flight requests
 * finish and closes its pools. If closing takes longer than SHUTDOWN_TIMEOUT_MS the process exits
 * with code 1. With --expose-gc it collects its start-up garbage before it listens, and with
 * MEMORY_RETURN_WHEN_QUIET gives memory back after quiet spells (memory.ts).
 */
export async function startServer(
  config: Config,
  options: CreateAppOptions = {},
): Promise<FastifyInstance> {
  const app = await createApp(config, options);
  collectStartupGarbage(app.log);
  // Its timer is unref'd: it never keeps the process alive.
  const stopCollecting = config.memoryReturnWhenQuiet
    ? collectAfterQuietSpells(app.log)
    : undefined;
  const delay = config.shutdownDrainMs + config.shutdownTimeoutMs;
  closeWithGrace({ delay }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, "shutting down after an uncaught error");
    else app.log.info({ signal }, "shutting down");
    // A crashed process has nothing worth draining for; a signalled one lets the balancer see it.
    if (!err && config.shutdownDrainMs > 0) {
      app.startDraining();
      await sleep(config.shutdownDrainMs);
    }
    stopCollecting?.();
    await app.close();
    app.log.info("shutdown complete");
  });
  await app.listen({ host: config.host, port: config.port });
  return app;
}
