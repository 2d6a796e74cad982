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
 * How long this process reuses a record it read from the shared cache without reading it
 * again. The plan it carries only sizes rate limits, so a change may take this long (and one
 * request) to reach every process; access to the tenant's data is decided by the database on
 * every query, never by this copy. Each process reads each busy tenant's record once per this
 * period: with a thousand tenants, 5 s meant about 200 reads a second per process, a few
 * percent of a read's CPU; 30 s is a sixth of that.
 */
const LOCAL_SECONDS = 30;
/**
 * Each copy is fresh for a random part of LOCAL_SECONDS, from three quarters to all of it:
 * copies read in the same second (every busy tenant's, after a deploy or a quiet spell) would
 * otherwise all go stale in the same second and send their background reads together.
 */
const LOCAL_SPREAD = 0.25;
/**
 * Past the copy's freshness and up to this age it is still answered at once while a fresh one is
 * read in the background, so a busy tenant's requests never wait on the shared cache, nor on the
 * database behind it, after a quiet spell: its first burst would otherwise wait on a thousand
 * reads at once, the tail of its latency. The copy only sizes rate limits, so a plan this old
 * applies only until its refresh lands.
 */
const LOCAL_STALE_SECONDS = 10 * 60;
/**
 * Background refreshes in flight at once; the others wait their turn, still answered from their
 * copy. After a quiet spell every busy tenant's copy is refreshed in the same second, and a
 * thousand reads queued ahead of requests on the tenant pool (the shared cache's entries have
 * expired too) would hold those requests behind them.
 */
const REFRESH_CONCURRENCY = 4;
const LOCAL_MAX_TENANTS = 10_000;

/** The tenant's record: at once when this process holds a recent copy, else a promise of it. */
export type TenantLookup = (tenantDb: TenantDatabase) => TenantRow | Promise<TenantRow>;

interface LocalCopy {
  row: TenantRow;
  /** Until then the copy is answered as it is (epoch ms). */
  freshUntil: number;
  /** Until then it is answered while a fresh one is read; after it, requests wait. */
  usableUntil: number;
  /** Whether a background read of a fresh one is in flight. */
  refreshing: boolean;
}

/**
 * The request's tenant (plan, status, name), read through the cache: most requests need it
 * (rate limits by plan) and it rarely changes. Read inside the tenant scope, so a missing or
 * suspended tenant fails here exactly as on any tenant query. A few seconds' copy in this
 * process spares the shared cache a round trip on almost every request, and an older one is
 * refreshed behind the request that finds it, which does not wait.
 */
export function createTenantLookup(cache: Cache): TenantLookup {
  const local = new Map<string, LocalCopy>();
  const load = async (tenantDb: TenantDatabase, tenantId: string) => {
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
    if (local.size >= LOCAL_MAX_TENANTS && !local.has(tenantId)) local.clear();
    const now = Date.now();
    local.set(tenantId, {
      row,
      freshUntil: now + LOCAL_SECONDS * 1000 * (1 - LOCAL_SPREAD * Math.random()),
      usableUntil: now + LOCAL_STALE_SECONDS * 1000,
      refreshing: false,
    });
    return row;
  };
  const queued: (() => void)[] = [];
  let refreshing = 0;
  const runRefresh = (tenantDb: TenantDatabase, tenantId: string, copy: LocalCopy) => {
    refreshing += 1;
    load(tenantDb, tenantId)
      .catch(() => {
        // A tenant gone or suspended, or the stores out of reach: the next request reads it
        // again and gets that answer itself.
        if (local.get(tenantId) === copy) local.delete(tenantId);
      })
      .finally(() => {
        refreshing -= 1;
        queued.shift()?.();
      });
  };
  const refresh = (tenantDb: TenantDatabase, tenantId: string, copy: LocalCopy) => {
    copy.refreshing = true;
    if (refreshing < REFRESH_CONCURRENCY) return runRefresh(tenantDb, tenantId, copy);
    queued.push(() => {
      // A request that found no usable copy may have read a newer one meanwhile.
      if (local.get(tenantId) === copy) runRefresh(tenantDb, tenantId, copy);
      else queued.shift()?.();
    });
  };
  return (tenantDb) => {
    const tenantId = tenantDb.scope.tenantId;
    const copy = local.get(tenantId);
    if (!copy) return load(tenantDb, tenantId);
    // Without a promise when the copy is recent: the rate limits ask on nearly every request.
    const now = Date.now();
    if (now < copy.freshUntil) return copy.row;
    if (now >= copy.usableUntil) return load(tenantDb, tenantId);
    if (!copy.refreshing) refresh(tenantDb, tenantId, copy);
    return copy.row;
  };
}
