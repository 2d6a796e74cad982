import { eq } from "drizzle-orm";
import type { Cache } from "../cache/cache.js";
import {
  param,
  prepareStatement,
  type TenantDatabase,
  type TenantRow,
  tenants,
} from "../database/index.js";
import { unauthorized } from "../errors/index.js";

const findTenant = prepareStatement("tenant_lookup", tenants, (db) =>
  db
    .select()
    .from(tenants)
    .where(eq(tenants.id, param("tenantId"))),
);

/** The cache namespace of a tenant's own record; invalidate it when the tenant changes. */
export const TENANT_CACHE_NAMESPACE = "tenant";
const TENANT_CACHE_SECONDS = 60;

export type TenantLookup = (tenantDb: TenantDatabase) => Promise<TenantRow>;

/**
 * The request's tenant (plan, status, name), read through the cache: most requests need it
 * (rate limits by plan) and it rarely changes. Read inside the tenant scope, so a missing or
 * suspended tenant fails here exactly as on any tenant query.
 */
export function createTenantLookup(cache: Cache): TenantLookup {
  return (tenantDb) =>
    cache.getOrSet(
      "record",
      TENANT_CACHE_SECONDS,
      async () => {
        const [row] = await tenantDb.rows(findTenant);
        if (!row) throw unauthorized("The tenant of this token no longer exists.");
        return row;
      },
      { namespace: TENANT_CACHE_NAMESPACE },
    );
}
