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

/**
 * The roles every tenant starts with, as system roles (they cannot be changed or deleted).
 * Migration 0007_rbac_security holds a copy for the tenants that existed before roles did.
 */
export const DEFAULT_ROLES = [
  { name: "owner", description: "Everything, including deleting the tenant", grants: ["*"] },
  {
    name: "admin",
    description: "Everything except deleting the tenant",
    grants: ["items:*", "members:*", "roles:*", "tenants:update", "audit:*"],
  },
  {
    name: "member",
    description: "Works with items and sees the members",
    grants: ["items:read", "items:create", "items:update", "members:read"],
  },
  {
    name: "viewer",
    description: "Reads items and sees the members",
    grants: ["items:read", "members:read"],
  },
] as const satisfies readonly {
  name: string;
  description: string;
  grants: readonly PermissionGrant[];
}[];

export type DefaultRoleName = (typeof DEFAULT_ROLES)[number]["name"];

/** Whether `grant` is a catalog permission, `resource:*` for a catalog resource, or `*`. */
export function isGrant(grant: string): grant is PermissionGrant {
  if (grant === "*" || (ALL_PERMISSIONS as readonly string[]).includes(grant)) return true;
  const resource = grant.endsWith(":*") ? grant.slice(0, -2) : undefined;
  return resource !== undefined && ALL_PERMISSIONS.some((p) => p.startsWith(`${resource}:`));
}

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

/** The resources of the catalog, and the actions of each: `requirePermission("items", "read")`. */
export type Resource = Permission extends `${infer R}:${string}` ? R : never;
export type ActionOf<R extends Resource> = Permission extends infer P
  ? P extends `${R}:${infer A}`
    ? A
    : never
  : never;
