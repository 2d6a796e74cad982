import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { AppError } from "../errors/index.js";

/**
 * Graceful shutdown at the HTTP level. Once the server starts closing, responses ask clients
 * to close their keep-alive connection (otherwise a client that keeps it open would hold the
 * process until the shutdown timeout), and a new request on such a connection gets a 503
 * problem so a load balancer retries it elsewhere.
 */
export const shutdownPlugin = fp(
  async (app: FastifyInstance) => {
    let closing = false;
    app.addHook("preClose", async () => {
      closing = true;
    });
    app.addHook("onRequest", async () => {
      if (closing) {
        throw new AppError(
          "service-unavailable",
          "The server is shutting down; retry the request.",
          {
            headers: { "retry-after": "1" },
          },
        );
      }
    });
    app.addHook("onSend", async (_request, reply) => {
      if (closing) reply.header("connection", "close");
    });
  },
  { name: "shutdown" },
);
