import closeWithGrace from "close-with-grace";
import type { FastifyInstance } from "fastify";
import { type CreateAppOptions, createApp } from "./app.js";
import type { Config } from "./config.js";

/**
 * Starts the HTTP server and wires graceful shutdown: on SIGTERM or SIGINT the server stops
 * accepting connections, lets in-flight requests finish, then closes its pools. If that takes
 * longer than SHUTDOWN_TIMEOUT_MS the process exits with code 1.
 */
export async function startServer(
  config: Config,
  options: CreateAppOptions = {},
): Promise<FastifyInstance> {
  const app = await createApp(config, options);
  closeWithGrace({ delay: config.shutdownTimeoutMs }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, "shutting down after an uncaught error");
    else app.log.info({ signal }, "shutting down");
    await app.close();
    app.log.info("shutdown complete");
  });
  await app.listen({ host: config.host, port: config.port });
  return app;
}
