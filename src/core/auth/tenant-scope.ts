import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Database, TenantDatabase } from "../database/index.js";
import { forbidden, unauthorized } from "../errors/index.js";
import { NO_ACTIVE_TENANT } from "./authentication.js";

declare module "fastify" {
  interface FastifyRequest {
    /**
     * The database bound to the caller's tenant, user and request. Tenant repositories are
     * built from it; it exists only on authenticated requests with a tenant (a token without
     * one gets 403 here, should a route that accepts it reach for tenant data).
     */
    readonly tenantDb: TenantDatabase;
    /** The tenant database once built: a field of the request, see tenantScopePlugin. */
    [scopedDatabase]: TenantDatabase | null;
  }
}

const scopedDatabase = Symbol("tenantDb");

export const tenantScopePlugin = fp<{ database: Database }>(
  async (app: FastifyInstance, { database }) => {
    // Kept on the request itself rather than in a WeakMap keyed by it: a WeakMap entry per
    // request is an ephemeron the collector processes on every collection.
    app.decorateRequest(scopedDatabase, null);
    app.decorateRequest("tenantDb", {
      getter() {
        let scoped = this[scopedDatabase];
        if (scoped) return scoped;
        const principal = this.principal;
        if (!principal) throw unauthorized();
        if (principal.tenantId === null) throw forbidden(NO_ACTIVE_TENANT);
        scoped = database.forTenant({
          tenantId: principal.tenantId,
          userId: principal.userId,
          requestId: this.id,
        });
        this[scopedDatabase] = scoped;
        return scoped;
      },
    });
  },
  { name: "tenant-scope" },
);
