import type { Server } from "node:http";
import type { FastifyBaseLogger } from "fastify";
import { collectDefaultMetrics, Registry } from "prom-client";
import { createServer } from "../http/node-http.js";
import { kitRegistry } from "./kit-metrics.js";
import { tokenMatches } from "./metrics.js";

/**
 * A worker's /metrics (WORKER_METRICS_PORT): the process defaults (memory, CPU, event-loop
 * delay) and the kit's metrics, among them those only a worker has (job durations and failures,
 * queue depth and age, outbox lag). The same bearer token as the API's. A plain node:http
 * server: the worker has no Fastify, and this answers one path.
 */
export async function startMetricsServer(options: {
  host: string;
  port: number;
  token: string | undefined;
  logger: FastifyBaseLogger;
}): Promise<{ readonly port: number; close(): Promise<void> }> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const exposed = Registry.merge([registry, kitRegistry]);
  const server: Server = createServer((request, response) => {
    const path = request.url?.split("?")[0];
    if (request.method !== "GET" || path !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("Not found\n");
      return;
    }
    if (options.token && !tokenMatches(request.headers.authorization, options.token)) {
      response
        .writeHead(401, { "content-type": "text/plain" })
        .end("A valid metrics token is required.\n");
      return;
    }
    exposed.metrics().then(
      (text) => response.writeHead(200, { "content-type": exposed.contentType }).end(text),
      (error: unknown) => {
        options.logger.warn({ err: error }, "metrics could not be collected");
        response.writeHead(500, { "content-type": "text/plain" }).end("Metrics failed\n");
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  options.logger.info({ host: options.host, port }, "worker metrics listening");
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
