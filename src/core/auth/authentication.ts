import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { AppError, forbidden, unauthorized } from "../errors/index.js";
import type { Principal } from "../http/access.js";
import type { Access, SessionGuard } from "./session-guard.js";

declare module "fastify" {
  interface FastifyRequest {
    /** What the signed-in caller may do in the token's tenant; set with `principal`. */
    access?: Access;
  }
}

import { InvalidTokenError, type TokenService } from "./tokens.js";

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

/** The token of an `Authorization: Bearer` header, if the request has a well-formed one. */
export const bearerTokenOf = (request: FastifyRequest): string | undefined => {
  const header = request.headers.authorization;
  return header ? BEARER.exec(header)?.[1] : undefined;
};

/** The caller of a signed-in route (the access-control hook guarantees one). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error("signed-in route without a principal");
  return request.principal;
}

/** What the caller of a signed-in route may do (set with the principal). */
export function accessOf(request: FastifyRequest): Access {
  if (!request.access) throw new Error("signed-in route without access");
  return request.access;
}

const acceptsTokenWithoutTenant = (request: FastifyRequest) => {
  const access = request.routeOptions.config.access;
  return access?.kind === "signed-in" && access.tenantOptional === true;
};

/** The answer of a tenant route to a token without a tenant. */
export const NO_ACTIVE_TENANT =
  "No active tenant: create one (POST /api/v1/tenants) or accept an invitation, then switch to it (POST /api/v1/auth/switch-tenant).";

/**
 * Identifies the caller of every non-public route from its `Authorization: Bearer` access
 * token, before the body is read: the signature and claims, then the session guard (the
 * session is live, the user active and a member of the token's tenant), so a token stops
 * working the moment its session or membership ends. The verified tenant becomes the request's
 * tenant scope and joins the request context, so logs carry tenant and user from here on.
 * Whether that tenant still exists and is active is checked where its data is read
 * (`app.enter_tenant`), in the same database round trip. A token without a tenant (a user with
 * no active tenant) passes the same session checks, and then only routes declared
 * `signedInTenantOptional` accept it; every other route answers 403.
 */
export const authenticationPlugin = fp<{ tokens: TokenService; sessions: SessionGuard }>(
  async (app: FastifyInstance, { tokens, sessions }) => {
    /** Sets what authentication found, or refuses a token without a tenant where one is needed. */
    const admit = (
      request: FastifyRequest,
      principal: Principal,
      access: Access | undefined,
    ): Error | undefined => {
      if (!access) {
        request.log.info({ sessionId: principal.sessionId }, "access token of an ended session");
        return unauthorized("The session has ended; sign in again.");
      }
      request.principal = principal;
      request.access = access;
      request.context.userId = principal.userId;
      if (principal.tenantId !== null) {
        request.context.tenantId = principal.tenantId;
      } else if (!acceptsTokenWithoutTenant(request)) {
        return forbidden(NO_ACTIVE_TENANT);
      }
      return undefined;
    };
    const sessionCheckFailed = (request: FastifyRequest, error: unknown) => {
      // The database cannot answer: the request cannot be authorised right now.
      request.log.error({ err: error }, "session check failed");
      return new AppError(
        "service-unavailable",
        "Sign-in cannot be checked right now; retry shortly.",
        {
          headers: { "retry-after": "5" },
        },
      );
    };

    // A callback hook that calls `done` at once when the token was verified before and the
    // session's answer is held in the process, as for nearly every request: an async hook
    // costs each request its promises and microtask turns.
    app.addHook("onRequest", (request, _reply, done) => {
      if (request.is404 || request.routeOptions.config.access?.kind === "public") return done();
      const token = bearerTokenOf(request);
      if (!token) return done(unauthorized());
      let principal: Principal;
      try {
        const claims = tokens.verifyAccessTokenNow(token);
        principal = { userId: claims.sub, tenantId: claims.tid, sessionId: claims.sid };
      } catch (error) {
        if (!(error instanceof InvalidTokenError)) return done(error as Error);
        request.log.info({ reason: error.reason }, "access token rejected");
        return done(unauthorized("The access token is invalid or expired."));
      }
      let access: ReturnType<SessionGuard["access"]>;
      try {
        access = sessions.access(principal);
      } catch (error) {
        return done(sessionCheckFailed(request, error));
      }
      if (!(access instanceof Promise)) return done(admit(request, principal, access));
      access.then(
        (answer) => done(admit(request, principal, answer)),
        (error: unknown) => done(sessionCheckFailed(request, error)),
      );
    });
  },
  { name: "authentication", dependencies: ["request-context"] },
);
