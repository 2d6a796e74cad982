import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { unauthorized } from "../errors/index.js";

/**
 * Secure by default: a route that is not declared public answers 401 unless the authentication
 * hook (which runs before this one) identified the caller. Permission declarations are checked
 * by the permissions layer on top of this.
 */
export const accessControlPlugin = fp(
  async (app: FastifyInstance) => {
    app.addHook("preHandler", async (request) => {
      if (request.is404) return;
      const access = request.routeOptions.config.access;
      if (access?.kind === "public") return;
      if (!request.principal) throw unauthorized();
    });
  },
  { name: "access-control" },
);
