/**
 * The permission catalog: every `resource:action` the kit checks, with what it allows. Roles
 * grant entries of this catalog, or wildcards over it (`items:*`, `*`).
 */
export const PERMISSIONS = {
  "items:read": "List and read items",
  "items:create": "Create items",
  "items:update": "Change items",
  "items:delete": "Delete items",
  "members:read": "List the tenant's members",
  "members:invite": "Invite people and manage invitations",
  "members:update": "Change members' roles",
  "members:delete": "Remove members from the tenant",
  "roles:read": "List roles",
  "roles:create": "Create roles",
  "roles:update": "Change roles",
  "roles:delete": "Delete roles",
  "tenants:update": "Rename the tenant",
  "tenants:delete": "Delete the tenant and all its data",
  "audit:read": "Read the audit log",
} as const satisfies Record<`${string}:${string}`, string>;

export type Permission = keyof typeof PERMISSIONS;
export type PermissionGrant = Permission | `${string}:*` | "*";

export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[];

/** The roles every tenant starts with. */
export const DEFAULT_ROLE_GRANTS = {
  owner: ["*"],
  admin: ALL_PERMISSIONS.filter((permission) => permission !== "tenants:delete"),
  member: ["items:read", "items:create", "items:update", "members:read"],
  viewer: ["items:read", "members:read"],
} as const satisfies Record<string, readonly PermissionGrant[]>;

/** The catalog permissions that `grants` cover, wildcards expanded, in catalog order. */
export function expandGrants(grants: readonly string[]): Permission[] {
  return ALL_PERMISSIONS.filter((permission) =>
    grants.some(
      (grant) =>
        grant === "*" ||
        grant === permission ||
        (grant.endsWith(":*") && permission.startsWith(grant.slice(0, -1))),
    ),
  );
}
