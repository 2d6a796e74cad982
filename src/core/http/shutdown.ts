import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { AppError } from "../errors/index.js";

declare module "fastify" {
  interface FastifyInstance {
    /** True from the start of a drain (see startDraining) until the process exits. */
    readonly draining: boolean;
    /**
     * Starts the drain that precedes close: readiness answers 503 so the load balancer stops
     * routing here, while requests are still served, each answer asking its client to close the
     * connection, so no client is left holding a kept-alive connection when the listener closes.
     */
    startDraining(): void;
  }
}

/**
 * Graceful shutdown at the HTTP level, in two steps. While draining, everything is served as
 * usual but readiness fails and responses carry `Connection: close`. Once the server starts
 * closing, a new request on a connection still open gets a 503 problem so a load balancer
 * retries it elsewhere.
 */
export const shutdownPlugin = fp(
  async (app: FastifyInstance) => {
    let draining = false;
    let closing = false;
    app.decorate("draining", {
      getter: () => draining,
    });
    app.decorate("startDraining", () => {
      if (draining) return;
      draining = true;
      app.log.info("draining: readiness answers 503");
    });
    app.addHook("preClose", async () => {
      draining = true;
      closing = true;
    });
    // Callback hooks, not async ones: they run on every request and spare it two promises.
    app.addHook("onRequest", (_request, _reply, done) => {
      if (!closing) return done();
      done(
        new AppError("service-unavailable", "The server is shutting down; retry the request.", {
          headers: { "retry-after": "1" },
        }),
      );
    });
    app.addHook("onSend", (_request, reply, payload, done) => {
      if (draining) reply.header("connection", "close");
      done(null, payload);
    });
  },
  { name: "shutdown" },
);
