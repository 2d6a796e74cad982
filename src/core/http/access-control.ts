import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { AuditLog } from "../audit/index.js";
import { forbidden, unauthorized } from "../errors/index.js";
import { satisfies } from "../permissions/index.js";

/**
 * Secure by default: a route that is not declared public answers 401 unless the authentication
 * hook (which runs before this one) identified the caller, and a route declaring permissions
 * (`requirePermission`) answers 403 unless the caller's roles in the token's tenant grant them.
 * Platform administrators pass every permission check; each such pass is logged and recorded
 * in the tenant's audit log.
 */
export const accessControlPlugin = fp<{ audit: AuditLog }>(
  async (app: FastifyInstance, { audit }) => {
    // Before validation: a caller without the permission gets 403 whatever the body says. A
    // callback hook: the common answers are synchronous, and every request passes here.
    app.addHook("preValidation", (request, _reply, done) => {
      if (request.is404) return done();
      const access = request.routeOptions.config.access;
      if (access?.kind === "public") return done();
      if (!request.principal || !request.access) return done(unauthorized());
      if (access?.kind === "platform-admin") {
        if (request.access.platformAdmin) return done();
        return done(forbidden("This is for platform administrators only."));
      }
      if (access?.kind !== "permission") return done();
      if (satisfies(access, request.access.permissions)) return done();
      if (request.access.platformAdmin) {
        request.log.info(
          { event: "platform-admin-bypass", permissions: access.permissions },
          "platform admin passed a permission check",
        );
        audit
          .record({
            action: "platform_admin.bypass",
            resourceType: "route",
            resourceId: `${request.method} ${request.routeOptions.url}`,
            metadata: { permissions: access.permissions },
          })
          .then(() => done(), done);
        return;
      }
      const list = access.permissions.join(", ");
      const needs =
        access.mode === "any" && access.permissions.length > 1
          ? `one of the permissions ${list}`
          : `the permission${access.permissions.length > 1 ? "s" : ""} ${list}`;
      done(forbidden(`This needs ${needs} in this tenant.`));
    });
  },
  { name: "access-control" },
);
