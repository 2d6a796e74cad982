import type { SystemTx, TenantTx } from "../../core/database/index.js";
import type { DefaultRoleName } from "../../core/permissions/index.js";
import { type RoleRecord, rbacRepository } from "./rbac.repository.js";
import { type RoleSummary, rolesSystemRepository } from "./roles.repository.js";

/**
 * The roles of tenants and their members, for the modules that create tenants and members
 * (registration, sign-in, tenant creation, invitations): inside `bypassTenantIsolation` (the
 * `SystemTx` methods, which name their tenant) or a tenant transaction the caller opened
 * (`findRoles`). Nothing here changes what a signed-in member may do, so it needs none of the
 * module dependencies (the tenant's own role changes are RbacService's, which revokes).
 */
export function createRolesService() {
  return {
    /** The roles of the transaction's tenant among `ids` (the others are left out). */
    findRoles: (tx: TenantTx, ids: readonly string[]): Promise<RoleRecord[]> =>
      rbacRepository.findRoles(tx, ids),

    /** Creates the default (system) roles of a new tenant. */
    createDefaultRoles: (db: SystemTx, tenantId: string): Promise<RoleSummary[]> =>
      rolesSystemRepository.createDefaults(db, tenantId),

    /** Adds `userId` to the tenant as an active member holding the named default role. */
    addMember: (
      db: SystemTx,
      tenantId: string,
      userId: string,
      role: DefaultRoleName,
    ): Promise<void> => rolesSystemRepository.addMember(db, tenantId, userId, role),

    /** The roles a user holds in each of `tenantIds`, and what they grant. */
    rolesOfMember: (db: SystemTx, userId: string, tenantIds: readonly string[]) =>
      rolesSystemRepository.ofMember(db, userId, tenantIds),

    /** The roles of `tenantId` among `ids` (the others are left out). */
    findTenantRoles: (
      db: SystemTx,
      tenantId: string,
      ids: readonly string[],
    ): Promise<RoleRecord[]> => rolesSystemRepository.findRoles(db, tenantId, ids),

    /** Gives a member of `tenantId` these roles of that tenant, besides those they hold. */
    grantRoles: (
      db: SystemTx,
      tenantId: string,
      userId: string,
      roleIds: readonly string[],
    ): Promise<void> => rolesSystemRepository.grantRoles(db, tenantId, userId, roleIds),
  };
}

export type RolesService = ReturnType<typeof createRolesService>;
