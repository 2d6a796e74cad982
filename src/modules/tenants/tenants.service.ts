import { randomBytes } from "node:crypto";
import type { AuditLog } from "../../core/audit/index.js";
import { type SessionGuard, TENANT_CACHE_NAMESPACE } from "../../core/auth/index.js";
import type { Cache } from "../../core/cache/index.js";
import {
  type Database,
  isUniqueViolation,
  type SystemTx,
  type TenantDatabase,
  type TenantRow,
} from "../../core/database/index.js";
import { notFound } from "../../core/errors/index.js";
import { createRolesService } from "../rbac/index.js";
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

/** A new tenant's default roles and its owner's membership (needs no dependencies). */
const roles = createRolesService();

/**
 * Creates a tenant with a unique slug derived from its name, and its default roles, in a
 * transaction the caller has opened with `bypassTenantIsolation`.
 */
async function createTenantWithin(db: SystemTx, input: NewTenant): Promise<TenantRow> {
  const base = slugify(input.name);
  for (let attempt = 1; ; attempt++) {
    // Tenants created at the same moment with the same name race for the next free slug; after
    // two lost races a random suffix makes the next try all but certain to win.
    const slug =
      attempt <= 2
        ? nextFreeSlug(base, await tenantsAdminRepository.slugsLike(db, base))
        : `${base.slice(0, 40)}-${randomBytes(4).toString("hex")}`;
    try {
      // A savepoint, so a lost race for the slug does not abort the transaction.
      const tenant = await db.transaction(() =>
        tenantsAdminRepository.insert(db, { ...input, slug }),
      );
      await roles.createDefaultRoles(db, tenant.id);
      return tenant;
    } catch (error) {
      if (!isUniqueViolation(error, "tenants_slug_key") || attempt >= 6) throw error;
    }
  }
}

/**
 * Creates a tenant (as `createTenantWithin`, default roles included) whose owner is `ownerId`:
 * the one way a user gets a tenant of their own, at registration, at a first OAuth sign-in
 * and through POST /tenants.
 */
async function createOwnedTenantWithin(
  db: SystemTx,
  ownerId: string,
  input: NewTenant,
): Promise<TenantRow> {
  const tenant = await createTenantWithin(db, input);
  await roles.addMember(db, tenant.id, ownerId, "owner");
  return tenant;
}

export function createTenantsService({
  database,
  cache,
  sessions,
  audit,
}: {
  database: Database;
  /** When given, the cached tenant record is dropped after a change. */
  cache?: Cache;
  /** When given, a deleted tenant's tokens are refused from the next request on. */
  sessions?: SessionGuard;
  /** When given, a tenant a user creates is recorded in its audit log (`tenant.created`). */
  audit?: AuditLog;
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

    /**
     * Creates a tenant owned by the signed-in user `ownerId`, who may have no tenant at all.
     * Unscoped like `create`; recorded in the new tenant's audit log.
     */
    async createOwned(ownerId: string, name: string): Promise<TenantRow> {
      const tenant = await database.bypassTenantIsolation("tenant creation", (db) =>
        createOwnedTenantWithin(db, ownerId, { name }),
      );
      await audit?.record({
        tenantId: tenant.id,
        actorId: ownerId,
        action: "tenant.created",
        resourceType: "tenant",
        resourceId: tenant.id,
        metadata: { name: tenant.name, slug: tenant.slug },
      });
      return tenant;
    },

    /**
     * Creates a tenant owned by `ownerId` inside the caller's system transaction `db`: the
     * account a registration or a first OAuth sign-in creates commits with its tenant or not at
     * all. Not recorded in the audit log; the caller records what it did.
     */
    createOwnedWithin(db: SystemTx, ownerId: string, input: NewTenant): Promise<TenantRow> {
      return createOwnedTenantWithin(db, ownerId, input);
    },

    async current(tenantDb: TenantDatabase): Promise<TenantRow> {
      return (await currentTenantRepository.find(tenantDb)) ?? throwNotFound();
    },

    async rename(tenantDb: TenantDatabase, name: string | undefined): Promise<TenantRow> {
      const row =
        name === undefined
          ? await currentTenantRepository.find(tenantDb)
          : await currentTenantRepository.rename(tenantDb, name);
      if (name !== undefined) await forgetCachedTenant();
      return row ?? throwNotFound();
    },

    async remove(tenantDb: TenantDatabase): Promise<void> {
      if (!(await currentTenantRepository.remove(tenantDb))) throwNotFound();
      await sessions?.revoke({ tenantId: tenantDb.scope.tenantId });
      await forgetCachedTenant();
    },
  };
}

export type TenantsService = ReturnType<typeof createTenantsService>;

function throwNotFound(): never {
  throw notFound("The tenant does not exist.");
}
