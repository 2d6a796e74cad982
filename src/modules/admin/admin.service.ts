import type { AuditLog } from "../../core/audit/index.js";
import { TENANT_CACHE_NAMESPACE } from "../../core/auth/index.js";
import type { Cache } from "../../core/cache/index.js";
import type { Database, TenantRow } from "../../core/database/index.js";
import { notFound } from "../../core/errors/index.js";
import { idCursor, pageOf } from "../../core/http/cursor.js";
import { currentContext, runWithContext } from "../../core/logging/index.js";
import { platformTenantsRepository } from "./admin.repository.js";
import type { PlatformTenant } from "./admin.schemas.js";

const cursor = idCursor("t1");

const toPlatformTenant = (row: TenantRow): PlatformTenant => ({
  id: row.id,
  name: row.name,
  slug: row.slug,
  plan: row.plan,
  status: row.status,
  createdAt: row.createdAt.toISOString(),
});

/**
 * Platform administration: every tenant, across tenant isolation, each call recorded in the
 * audit log (the listing in the administrator's own tenant, a change in the tenant changed).
 */
export function createAdminService({
  database,
  audit,
  cache,
}: {
  database: Database;
  audit: AuditLog;
  cache: Cache;
}) {
  return {
    async listTenants(limit: number, after: string | undefined) {
      const rows = await database.bypassTenantIsolation("platform admin: list tenants", (db) =>
        platformTenantsRepository.list(
          db,
          limit + 1,
          after === undefined ? undefined : cursor.decode(after),
        ),
      );
      await audit.record({
        action: "platform_admin.tenants_listed",
        resourceType: "tenant",
        metadata: { count: Math.min(rows.length, limit) },
      });
      return pageOf(rows, limit, toPlatformTenant, (row) => cursor.encode(row.id));
    },

    /** A suspended tenant's members get 403 on every tenant route from their next request. */
    async setStatus(id: string, status: TenantRow["status"]): Promise<PlatformTenant> {
      const row = await database.bypassTenantIsolation("platform admin: tenant status", (db) =>
        platformTenantsRepository.setStatus(db, id, status),
      );
      if (!row) throw notFound("The tenant does not exist.");
      // The cached tenant record (plan, status) is dropped; every tenant query checks the
      // status anyway.
      const context = currentContext() ?? { requestId: "", ip: "" };
      await runWithContext({ ...context, tenantId: row.id }, () =>
        cache.invalidateNamespace(TENANT_CACHE_NAMESPACE),
      );
      await audit.record({
        tenantId: row.id,
        action: `platform_admin.tenant_${status === "active" ? "reactivated" : "suspended"}`,
        resourceType: "tenant",
        resourceId: row.id,
        metadata: { status },
      });
      return toPlatformTenant(row);
    },
  };
}

export type AdminService = ReturnType<typeof createAdminService>;
