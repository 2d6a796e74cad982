import { z } from "zod";
import { pageQueryFields, pageSchemaOf } from "../../core/http/cursor.js";
import { displayName } from "../../core/http/text.js";
import { isGrant } from "../../core/permissions/index.js";

export const permissionCatalogSchema = z
  .object({
    items: z.array(z.object({ permission: z.string(), description: z.string() })),
  })
  .meta({ id: "PermissionCatalog" });

export const roleSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string(),
    permissions: z.array(z.string()),
    system: z.boolean(),
  })
  .meta({ id: "Role" });

export const memberSchema = z
  .object({
    user: z.object({ id: z.uuid(), email: z.string(), name: z.string() }),
    roles: z.array(z.object({ id: z.uuid(), name: z.string() })),
    joinedAt: z.iso.datetime(),
  })
  .meta({ id: "Member" });

export const rolePageSchema = pageSchemaOf(roleSchema).meta({ id: "RolePage" });
export const memberPageSchema = pageSchemaOf(memberSchema).meta({ id: "MemberPage" });

export const listQuery = z.strictObject(pageQueryFields);

const notInCatalog = "is not a permission of the catalog (see GET /api/v1/permissions)";
/** Bounded in the document too: no grant of the catalog is longer. */
const GRANT_MAX_LENGTH = 64;

const grants = z
  .array(z.string().max(GRANT_MAX_LENGTH, notInCatalog).refine(isGrant, { message: notInCatalog }))
  .max(100, "must list at most 100 permissions")
  .transform((values) => [...new Set(values)]);

/** Unique in the tenant whatever its case, and never a system role's name (rbac.service.ts). */
const roleName = displayName({ max: 64 });
const roleDescription = displayName({ max: 500, min: 0 });

export const createRoleBody = z.strictObject({
  name: roleName,
  description: roleDescription.optional(),
  permissions: grants,
});

export const updateRoleBody = z.strictObject({
  name: roleName.optional(),
  description: roleDescription.optional(),
  permissions: grants.optional(),
});

export const roleParams = z.strictObject({ id: z.uuid() });
export const memberParams = z.strictObject({ userId: z.uuid() });

export const setMemberRolesBody = z.strictObject({
  roleIds: z
    .array(z.uuid())
    .min(1, "must name at least one role")
    .max(20, "must name at most 20 roles")
    .transform((values) => [...new Set(values)]),
});

export type RoleResponse = z.infer<typeof roleSchema>;
export type MemberResponse = z.infer<typeof memberSchema>;
