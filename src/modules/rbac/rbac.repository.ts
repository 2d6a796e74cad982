import { and, asc, count, eq, gt, inArray, notInArray, sql } from "drizzle-orm";
import { type Condition, memberships, type TenantTx, users } from "../../core/database/index.js";
import { memberRoles, rolePermissions, roles } from "./roles.table.js";

export interface RoleRecord {
  id: string;
  name: string;
  description: string;
  system: boolean;
  permissions: string[];
}

export interface MemberRecord {
  userId: string;
  email: string;
  name: string;
  joinedAt: Date;
  roles: { id: string; name: string }[];
}

const rolePermissionsOf = sql<string[]>`coalesce(
  (select array_agg(rp.permission order by rp.permission) from ${rolePermissions} rp
   where rp.tenant_id = ${roles.tenantId} and rp.role_id = ${roles.id}),
  '{}'::text[])`;

const memberRolesOf = sql<{ id: string; name: string }[]>`coalesce(
  (select json_agg(json_build_object('id', r.id, 'name', r.name) order by r.name)
   from ${memberRoles} mr join ${roles} r on r.tenant_id = mr.tenant_id and r.id = mr.role_id
   where mr.tenant_id = ${memberships.tenantId} and mr.user_id = ${memberships.userId}),
  '[]'::json)`;

/** The columns of a role as the repositories return it (`RoleRecord`). */
export const roleColumns = {
  id: roles.id,
  name: roles.name,
  description: roles.description,
  system: roles.system,
  permissions: rolePermissionsOf,
};

const memberColumns = {
  userId: memberships.userId,
  email: users.email,
  name: users.name,
  joinedAt: memberships.joinedAt,
  roles: memberRolesOf,
};

// Other users' rows are reached from this tenant's memberships.
const members = (tx: TenantTx, ...conditions: Condition[]) =>
  tx
    .select(memberColumns)
    .from(memberships, ...conditions)
    .innerJoin(users, eq(users.id, memberships.userId));

async function setPermissions(tx: TenantTx, roleId: string, permissions: readonly string[]) {
  await tx.delete(rolePermissions).where(eq(rolePermissions.roleId, roleId));
  if (permissions.length > 0) {
    await tx
      .insert(rolePermissions)
      .values(permissions.map((permission) => ({ roleId, permission })));
  }
}

/**
 * Roles and members of the tenant `tx` was opened for. Every statement filters on that tenant
 * (the scoped builders of TenantTx), and row-level security filters again.
 */
export const rbacRepository = {
  listRoles(tx: TenantTx, limit: number, after: string | undefined): Promise<RoleRecord[]> {
    return tx
      .select(roleColumns)
      .from(roles, after ? gt(roles.id, after) : undefined)
      .orderBy(asc(roles.id))
      .limit(limit);
  },
  async findRole(tx: TenantTx, id: string): Promise<RoleRecord | undefined> {
    return (await tx.select(roleColumns).from(roles, eq(roles.id, id)))[0];
  },
  async findRoles(tx: TenantTx, ids: readonly string[]): Promise<RoleRecord[]> {
    if (ids.length === 0) return [];
    return tx.select(roleColumns).from(roles, inArray(roles.id, [...ids]));
  },
  async insertRole(
    tx: TenantTx,
    input: { name: string; description: string; permissions: string[] },
  ): Promise<string> {
    const [row] = await tx
      .insert(roles)
      .values({ name: input.name, description: input.description })
      .returning({ id: roles.id });
    if (!row) throw new Error("insert returned no row");
    await setPermissions(tx, row.id, input.permissions);
    return row.id;
  },
  async updateRole(
    tx: TenantTx,
    id: string,
    changes: { name?: string | undefined; description?: string | undefined },
  ): Promise<void> {
    const set = Object.fromEntries(
      Object.entries(changes).filter(([, value]) => value !== undefined),
    );
    if (Object.keys(set).length > 0) await tx.update(roles).set(set).where(eq(roles.id, id));
  },
  setPermissions,
  async deleteRole(tx: TenantTx, id: string): Promise<void> {
    await tx.delete(roles).where(eq(roles.id, id));
  },

  listMembers(tx: TenantTx, limit: number, after: string | undefined): Promise<MemberRecord[]> {
    return members(tx, after ? gt(memberships.userId, after) : undefined)
      .orderBy(asc(memberships.userId))
      .limit(limit);
  },
  async findMember(tx: TenantTx, userId: string): Promise<MemberRecord | undefined> {
    return (await members(tx, eq(memberships.userId, userId)))[0];
  },
  /**
   * Makes `roleIds` the member's roles. Only the roles taken away are deleted: deleting one
   * revokes the member's pending invitations (a trigger of migration 0017), which keeping
   * or adding a role must not do.
   */
  async setMemberRoles(tx: TenantTx, userId: string, roleIds: readonly string[]): Promise<void> {
    await tx
      .delete(memberRoles)
      .where(
        eq(memberRoles.userId, userId),
        roleIds.length > 0 ? notInArray(memberRoles.roleId, [...roleIds]) : undefined,
      );
    if (roleIds.length > 0) {
      await tx
        .insert(memberRoles)
        .values(roleIds.map((roleId) => ({ userId, roleId })))
        .onConflictDoNothing();
    }
  },
  async removeMember(tx: TenantTx, userId: string): Promise<boolean> {
    const removed = await tx
      .delete(memberships)
      .where(eq(memberships.userId, userId))
      .returning({ userId: memberships.userId });
    return removed.length > 0;
  },
  /** Serialises the changes that must keep an owner, per tenant, until the transaction ends. */
  async lockOwners(tx: TenantTx): Promise<void> {
    await tx.execute(
      sql`select pg_advisory_xact_lock(hashtext('owners:' || app.current_tenant_id()::text))`,
    );
  },
  /** Members holding the system owner role, other than `except`. */
  async otherOwners(tx: TenantTx, except: string): Promise<number> {
    const [row] = await tx
      .select({ n: count() })
      .from(
        memberRoles,
        eq(roles.system, true),
        eq(roles.name, "owner"),
        eq(memberships.status, "active"),
        sql`${memberRoles.userId} <> ${except}`,
      )
      .innerJoin(
        roles,
        and(eq(roles.tenantId, memberRoles.tenantId), eq(roles.id, memberRoles.roleId)),
      )
      .innerJoin(
        memberships,
        and(
          eq(memberships.tenantId, memberRoles.tenantId),
          eq(memberships.userId, memberRoles.userId),
        ),
      );
    return Number(row?.n ?? 0);
  },
};
