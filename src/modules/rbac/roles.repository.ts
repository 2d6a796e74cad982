import { and, eq, inArray } from "drizzle-orm";
import { memberships, type SystemTx } from "../../core/database/index.js";
import { type DefaultRoleName, permissionCatalog } from "../../core/permissions/index.js";
import { type RoleRecord, roleColumns } from "./rbac.repository.js";
import { memberRoles, rolePermissions, roles } from "./roles.table.js";

export interface RoleSummary {
  readonly id: string;
  readonly name: string;
}

/**
 * Roles across tenants, for the unscoped paths that create tenants and memberships
 * (registration, sign-in, invitation acceptance), inside `bypassTenantIsolation`. Row-level
 * security does not apply there, so every function names its tenant.
 */
export const rolesSystemRepository = {
  /** Creates the default (system) roles of a new tenant. */
  async createDefaults(db: SystemTx, tenantId: string): Promise<RoleSummary[]> {
    const { defaultRoles } = permissionCatalog();
    const created = await db
      .insert(roles)
      .values(
        defaultRoles.map((role) => ({
          tenantId,
          name: role.name,
          description: role.description,
          system: true,
        })),
      )
      .returning({ id: roles.id, name: roles.name });
    const idOf = new Map(created.map((role) => [role.name, role.id]));
    await db.insert(rolePermissions).values(
      defaultRoles.flatMap((role) =>
        role.grants.map((permission) => ({
          tenantId,
          roleId: idOf.get(role.name) as string,
          permission,
        })),
      ),
    );
    return created;
  },

  /** Adds `userId` to the tenant as an active member holding the named default role. */
  async addMember(
    db: SystemTx,
    tenantId: string,
    userId: string,
    role: DefaultRoleName,
  ): Promise<void> {
    await db.insert(memberships).values({ tenantId, userId });
    const [found] = await db
      .select({ id: roles.id })
      .from(roles)
      .where(and(eq(roles.tenantId, tenantId), eq(roles.name, role)));
    if (!found) throw new Error(`tenant ${tenantId} has no ${role} role`);
    await db.insert(memberRoles).values({ tenantId, userId, roleId: found.id });
  },

  /** The roles of `tenantId` among `ids` (the others are left out). */
  async findRoles(db: SystemTx, tenantId: string, ids: readonly string[]): Promise<RoleRecord[]> {
    if (ids.length === 0) return [];
    return db
      .select(roleColumns)
      .from(roles)
      .where(and(eq(roles.tenantId, tenantId), inArray(roles.id, [...ids])));
  },

  /** Gives a member of `tenantId` these roles of that tenant, besides those they hold. */
  async grantRoles(
    db: SystemTx,
    tenantId: string,
    userId: string,
    roleIds: readonly string[],
  ): Promise<void> {
    if (roleIds.length === 0) return;
    await db
      .insert(memberRoles)
      .values(roleIds.map((roleId) => ({ tenantId, userId, roleId })))
      .onConflictDoNothing();
  },

  /** The roles a user holds in each of `tenantIds`, and what they grant. */
  async ofMember(
    db: SystemTx,
    userId: string,
    tenantIds: readonly string[],
  ): Promise<Map<string, { roles: RoleSummary[]; grants: string[] }>> {
    const result = new Map<string, { roles: RoleSummary[]; grants: string[] }>();
    if (tenantIds.length === 0) return result;
    const rows = await db
      .select({
        tenantId: memberRoles.tenantId,
        id: roles.id,
        name: roles.name,
        permission: rolePermissions.permission,
      })
      .from(memberRoles)
      .innerJoin(
        roles,
        and(eq(roles.tenantId, memberRoles.tenantId), eq(roles.id, memberRoles.roleId)),
      )
      .leftJoin(
        rolePermissions,
        and(eq(rolePermissions.tenantId, roles.tenantId), eq(rolePermissions.roleId, roles.id)),
      )
      .where(and(eq(memberRoles.userId, userId), inArray(memberRoles.tenantId, [...tenantIds])))
      .orderBy(roles.name);
    for (const row of rows) {
      const entry = result.get(row.tenantId) ?? { roles: [], grants: [] };
      if (!entry.roles.some((role) => role.id === row.id)) {
        entry.roles.push({ id: row.id, name: row.name });
      }
      if (row.permission && !entry.grants.includes(row.permission)) {
        entry.grants.push(row.permission);
      }
      result.set(row.tenantId, entry);
    }
    return result;
  },
};
