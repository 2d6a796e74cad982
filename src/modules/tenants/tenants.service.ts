import { type SessionGuard, TENANT_CACHE_NAMESPACE } from "../../core/auth/index.js";
import type { Cache } from "../../core/cache/index.js";
import {
  type Database,
  type Db,
  isUniqueViolation,
  type TenantDatabase,
  type TenantRow,
} from "../../core/database/index.js";
import { notFound } from "../../core/errors/index.js";
import { rolesSystemRepository } from "../rbac/index.js";
import { nextFreeSlug, slugify } from "./slug.js";
import { currentTenantRepository, tenantsAdminRepository } from "./tenants.repository.js";
import type { TenantResponse } from "./tenants.schemas.js";

export function toTenantResponse(row: TenantRow): TenantResponse {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    plan: row.plan,
    createdAt: row.createdAt.toISOString(),
  };
}

type NewTenant = { name: string; plan?: TenantRow["plan"] };

/**
 * Creates a tenant with a unique slug derived from its name, and its default roles, in a
 * transaction the caller has opened with `bypassTenantIsolation` (registration creates its
 * user in the same one).
 */
export async function createTenantWithin(db: Db, input: NewTenant): Promise<TenantRow> {
  const base = slugify(input.name);
  const repository = tenantsAdminRepository(db);
  for (let attempt = 1; ; attempt++) {
    const slug = nextFreeSlug(base, await repository.slugsLike(base));
    try {
      // A savepoint, so a lost race for the slug does not abort the transaction.
      const tenant = await db.transaction(() => repository.insert({ ...input, slug }));
      await rolesSystemRepository(db).createDefaults(tenant.id);
      return tenant;
    } catch (error) {
      if (!isUniqueViolation(error) || attempt >= 5) throw error;
    }
  }
}

export function createTenantsService({
  database,
  cache,
  sessions,
}: {
  database: Database;
  /** When given, the cached tenant record is dropped after a change. */
  cache?: Cache;
  /** When given, a deleted tenant's tokens are refused from the next request on. */
  sessions?: SessionGuard;
}) {
  const forgetCachedTenant = () => cache?.invalidateNamespace(TENANT_CACHE_NAMESPACE);
  return {
    /**
     * Creates a tenant with a unique slug derived from its name. Runs unscoped: a tenant that
     * does not exist yet cannot be entered.
     */
    create(input: NewTenant): Promise<TenantRow> {
      return database.bypassTenantIsolation("tenant creation", (db) =>
        createTenantWithin(db, input),
      );
    },

    async current(tenantDb: TenantDatabase): Promise<TenantRow> {
      return (await currentTenantRepository(tenantDb).find()) ?? throwNotFound();
    },

    async rename(tenantDb: TenantDatabase, name: string | undefined): Promise<TenantRow> {
      const repository = currentTenantRepository(tenantDb);
      const row = name === undefined ? await repository.find() : await repository.rename(name);
      if (name !== undefined) await forgetCachedTenant();
      return row ?? throwNotFound();
    },

    async remove(tenantDb: TenantDatabase): Promise<void> {
      if (!(await currentTenantRepository(tenantDb).remove())) throwNotFound();
      await sessions?.revoke({ tenantId: tenantDb.scope.tenantId });
      await forgetCachedTenant();
    },
  };
}

export type TenantsService = ReturnType<typeof createTenantsService>;

function throwNotFound(): never {
  throw notFound("The tenant does not exist.");
}
