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
  }
}

const cache = new WeakMap<object, TenantDatabase>();

export const tenantScopePlugin = fp<{ database: Database }>(
  async (app: FastifyInstance, { database }) => {
    app.decorateRequest("tenantDb", {
      getter() {
        let scoped = cache.get(this);
        if (scoped) return scoped;
        const principal = this.principal;
        if (!principal) throw unauthorized();
        if (principal.tenantId === null) throw forbidden(NO_ACTIVE_TENANT);
        scoped = database.forTenant({
          tenantId: principal.tenantId,
          userId: principal.userId,
          requestId: this.id,
        });
        cache.set(this, scoped);
        return scoped;
      },
    });
  },
  { name: "tenant-scope" },
);
