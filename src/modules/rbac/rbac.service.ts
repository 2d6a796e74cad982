import type { Access, SessionGuard } from "../../core/auth/index.js";
import { isUniqueViolation, type TenantDatabase } from "../../core/database/index.js";
import { AppError, conflict, forbidden, notFound } from "../../core/errors/index.js";
import { idCursor, pageOf } from "../../core/http/cursor.js";
import { DEFAULT_ROLE_NAMES, expandGrants } from "../../core/permissions/index.js";
import { type MemberRecord, type RoleRecord, rbacRepository } from "./rbac.repository.js";
import type { MemberResponse, RoleResponse } from "./rbac.schemas.js";

const roleCursor = idCursor("r1");
const memberCursor = idCursor("m1");

const toRole = (row: RoleRecord): RoleResponse => ({
  id: row.id,
  name: row.name,
  description: row.description,
  permissions: row.permissions,
  system: row.system,
});

const toMember = (row: MemberRecord): MemberResponse => ({
  user: { id: row.userId, email: row.email, name: row.name },
  roles: row.roles,
  joinedAt: new Date(row.joinedAt).toISOString(),
});

const roleNotFound = () => notFound("The role does not exist.");
/** Role names are unique in a tenant whatever their case (index roles_tenant_id_lower_name_key). */
const roleNameTaken = () =>
  conflict("A role with this name exists; names are compared ignoring case.");

/**
 * A custom role may not pass for a system role: not `Owner`, `ADMIN`, nor a compatibility
 * lookalike such as fullwidth `ｏｗｎｅｒ` (compared after NFKC and case folding).
 */
function ensureNotSystemRoleName(name: string | undefined) {
  if (name === undefined) return;
  const folded = name.normalize("NFKC").toLowerCase();
  const system = DEFAULT_ROLE_NAMES.find((role) => role === folded);
  if (system) throw conflict(`The name ${name} belongs to the system role ${system}.`);
}
const memberNotFound = () => notFound("The member does not exist.");

/**
 * Nobody grants what they do not hold: every permission `grants` covers must be the caller's,
 * and a wildcard only from a caller holding that wildcard (or `*`), since it will also cover
 * permissions added to the catalog later. Platform administrators are exempt.
 */
export function ensureHeld(access: Access, grants: readonly string[], doing = "grant") {
  const lacking = grantsNotHeld(access, grants);
  if (lacking.length > 0) {
    throw forbidden(`You cannot ${doing} permissions you do not hold: ${lacking.join(", ")}.`);
  }
}

/** What of `grants` `access` does not hold, by the rule of `ensureHeld`; none for a platform admin. */
export function grantsNotHeld(access: Access, grants: readonly string[]): string[] {
  if (access.platformAdmin) return [];
  const missing = expandGrants(grants).filter((permission) => !access.permissions.has(permission));
  const wildcards = grants.filter(
    (grant) =>
      grant.endsWith("*") && !access.grants.includes(grant) && !access.grants.includes("*"),
  );
  return [...new Set([...wildcards, ...missing])];
}

/**
 * Roles and members of the caller's tenant. Every change that alters what someone may do
 * tells the session guard, so it applies on their next request, in every process. (Other
 * modules provision roles and members through RolesService, roles.service.ts.)
 */
export function createRbacService({ sessions }: { sessions: SessionGuard }) {
  return {
    async listRoles(tenantDb: TenantDatabase, limit: number, cursor: string | undefined) {
      const after = cursor === undefined ? undefined : roleCursor.decode(cursor);
      const rows = await tenantDb.transaction((tx) =>
        rbacRepository.listRoles(tx, limit + 1, after),
      );
      return pageOf(rows, limit, toRole, (row) => roleCursor.encode(row.id));
    },

    async createRole(
      tenantDb: TenantDatabase,
      access: Access,
      input: { name: string; description?: string | undefined; permissions: string[] },
    ): Promise<RoleResponse> {
      ensureNotSystemRoleName(input.name);
      ensureHeld(access, input.permissions);
      try {
        return await tenantDb.transaction(async (tx) => {
          const id = await rbacRepository.insertRole(tx, {
            name: input.name,
            description: input.description ?? "",
            permissions: input.permissions,
          });
          return toRole((await rbacRepository.findRole(tx, id)) as RoleRecord);
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw roleNameTaken();
        throw error;
      }
    },

    async updateRole(
      tenantDb: TenantDatabase,
      access: Access,
      id: string,
      changes: {
        name?: string | undefined;
        description?: string | undefined;
        permissions?: string[] | undefined;
      },
    ): Promise<RoleResponse> {
      ensureNotSystemRoleName(changes.name);
      if (changes.permissions) ensureHeld(access, changes.permissions);
      try {
        const role = await tenantDb.transaction(async (tx) => {
          const current = await rbacRepository.findRole(tx, id);
          if (!current) throw roleNotFound();
          if (current.system) throw conflict("System roles cannot be changed.");
          // Nobody changes a role that grants more than they hold.
          ensureHeld(access, current.permissions, "change a role granting");
          await rbacRepository.updateRole(tx, id, {
            name: changes.name,
            description: changes.description,
          });
          if (changes.permissions) await rbacRepository.setPermissions(tx, id, changes.permissions);
          return (await rbacRepository.findRole(tx, id)) as RoleRecord;
        });
        // Whoever holds the role may now do more or less: every member's next request re-reads.
        if (changes.permissions) await sessions.revoke({ tenantId: tenantDb.scope.tenantId });
        return toRole(role);
      } catch (error) {
        if (isUniqueViolation(error)) throw roleNameTaken();
        throw error;
      }
    },

    async deleteRole(tenantDb: TenantDatabase, access: Access, id: string): Promise<void> {
      await tenantDb.transaction(async (tx) => {
        const current = await rbacRepository.findRole(tx, id);
        if (!current) throw roleNotFound();
        if (current.system) throw conflict("System roles cannot be deleted.");
        ensureHeld(access, current.permissions, "delete a role granting");
        await rbacRepository.deleteRole(tx, id);
      });
      await sessions.revoke({ tenantId: tenantDb.scope.tenantId });
    },

    async listMembers(tenantDb: TenantDatabase, limit: number, cursor: string | undefined) {
      const after = cursor === undefined ? undefined : memberCursor.decode(cursor);
      const rows = await tenantDb.transaction((tx) =>
        rbacRepository.listMembers(tx, limit + 1, after),
      );
      return pageOf(rows, limit, toMember, (row) => memberCursor.encode(row.userId));
    },

    async setMemberRoles(
      tenantDb: TenantDatabase,
      access: Access,
      userId: string,
      roleIds: readonly string[],
    ): Promise<MemberResponse> {
      const tenantId = tenantDb.scope.tenantId;
      const member = await tenantDb.transaction(async (tx) => {
        await rbacRepository.lockOwners(tx);
        const current = await rbacRepository.findMember(tx, userId);
        if (!current) throw memberNotFound();
        // Nobody changes someone who holds more than they do.
        const held = await rbacRepository.findRoles(
          tx,
          current.roles.map((role) => role.id),
        );
        ensureHeld(
          access,
          held.flatMap((role) => role.permissions),
          "change a member holding",
        );
        const wanted = await rbacRepository.findRoles(tx, roleIds);
        if (wanted.length !== roleIds.length) {
          throw new AppError(
            "validation-failed",
            "The request is invalid; see errors for each field.",
            {
              errors: [{ field: "roleIds", message: "names a role this tenant does not have" }],
            },
          );
        }
        ensureHeld(
          access,
          wanted.flatMap((role) => role.permissions),
        );
        const staysOwner = wanted.some((role) => role.system && role.name === "owner");
        const wasOwner = current.roles.some((role) => role.name === "owner");
        if (wasOwner && !staysOwner && (await rbacRepository.otherOwners(tx, userId)) === 0) {
          throw conflict("The tenant must keep at least one owner.");
        }
        await rbacRepository.setMemberRoles(tx, userId, roleIds);
        return (await rbacRepository.findMember(tx, userId)) as MemberRecord;
      });
      await sessions.revoke({ userId, tenantId });
      return toMember(member);
    },

    async removeMember(tenantDb: TenantDatabase, access: Access, userId: string): Promise<void> {
      const tenantId = tenantDb.scope.tenantId;
      await tenantDb.transaction(async (tx) => {
        await rbacRepository.lockOwners(tx);
        const current = await rbacRepository.findMember(tx, userId);
        if (!current) throw memberNotFound();
        const held = await rbacRepository.findRoles(
          tx,
          current.roles.map((role) => role.id),
        );
        ensureHeld(
          access,
          held.flatMap((role) => role.permissions),
          "remove a member holding",
        );
        const isOwner = current.roles.some((role) => role.name === "owner");
        if (isOwner && (await rbacRepository.otherOwners(tx, userId)) === 0) {
          throw conflict("The tenant must keep at least one owner.");
        }
        await rbacRepository.removeMember(tx, userId);
      });
      await sessions.revoke({ userId, tenantId });
    },
  };
}

export type RbacService = ReturnType<typeof createRbacService>;
