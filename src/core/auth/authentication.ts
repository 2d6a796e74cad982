import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { unauthorized } from "../errors/index.js";
import { InvalidTokenError, type TokenService } from "./tokens.js";

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

/**
 * Identifies the caller of every non-public route from its `Authorization: Bearer` access
 * token, before the body is read. The verified tenant becomes the request's tenant scope and
 * joins the request context, so logs carry tenant and user from here on. Whether that tenant
 * still exists and is active is checked where its data is read (`app.enter_tenant`), in the
 * same database round trip.
 */
export const authenticationPlugin = fp<{ tokens: TokenService }>(
  async (app: FastifyInstance, { tokens }) => {
    app.addHook("onRequest", async (request) => {
      if (request.is404 || request.routeOptions.config.access?.kind === "public") return;
      const header = request.headers.authorization;
      const token = header ? BEARER.exec(header)?.[1] : undefined;
      if (!token) throw unauthorized();
      try {
        const claims = await tokens.verifyAccessToken(token);
        request.principal = { userId: claims.sub, tenantId: claims.tid, sessionId: claims.sid };
        request.context.userId = claims.sub;
        request.context.tenantId = claims.tid;
      } catch (error) {
        if (!(error instanceof InvalidTokenError)) throw error;
        request.log.info({ reason: error.reason }, "access token rejected");
        throw unauthorized("The access token is invalid or expired.");
      }
    });
  },
  { name: "authentication", dependencies: ["request-context"] },
);
