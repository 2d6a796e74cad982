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

/**
 * How long this process reuses a record it read from the shared cache. The plan it carries
 * only sizes rate limits, so a change may take this long to reach every process; access to
 * the tenant's data is decided by the database on every query, never by this copy.
 */
const LOCAL_SECONDS = 5;
const LOCAL_MAX_TENANTS = 10_000;

/** The tenant's record: at once when this process holds a fresh copy, else a promise of it. */
export type TenantLookup = (tenantDb: TenantDatabase) => TenantRow | Promise<TenantRow>;

/**
 * The request's tenant (plan, status, name), read through the cache: most requests need it
 * (rate limits by plan) and it rarely changes. Read inside the tenant scope, so a missing or
 * suspended tenant fails here exactly as on any tenant query. A few seconds' copy in this
 * process spares the shared cache a round trip on almost every request.
 */
export function createTenantLookup(cache: Cache): TenantLookup {
  const local = new Map<string, { row: TenantRow; until: number }>();
  const load = async (tenantDb: TenantDatabase, tenantId: string, now: number) => {
    const row = await cache.getOrSet(
      "record",
      TENANT_CACHE_SECONDS,
      async () => {
        const [found] = await tenantDb.rows(findTenant);
        if (!found) throw unauthorized("The tenant of this token no longer exists.");
        return found;
      },
      { namespace: TENANT_CACHE_NAMESPACE },
    );
    if (local.size >= LOCAL_MAX_TENANTS) local.clear();
    local.set(tenantId, { row, until: now + LOCAL_SECONDS * 1000 });
    return row;
  };
  return (tenantDb) => {
    const tenantId = tenantDb.scope.tenantId;
    const now = Date.now();
    const copy = local.get(tenantId);
    // Without a promise when the copy is fresh: the rate limits ask on nearly every request.
    return copy && copy.until > now ? copy.row : load(tenantDb, tenantId, now);
  };
}
