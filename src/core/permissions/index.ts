export {
  /** @public The actions of a resource: `requirePermission`'s second argument (docs/permissions.md). */
  type ActionOf,
  createPermissionCatalog,
  DEFAULT_ROLE_NAMES,
  type DefaultRoleName,
  definePermissions,
  expandGrants,
  installPermissionCatalog,
  isGrant,
  type Permission,
  type PermissionDeclarations,
  /** @public What a role may be granted: a permission, `resource:*` or `*`. */
  type PermissionGrant,
  permissionCatalog,
  /** @public A resource of the catalog: `requirePermission`'s first argument. */
  type Resource,
} from "./catalog.js";
export {
  requireAllPermissions,
  requireAnyPermission,
  requirePermission,
  satisfies,
} from "./require.js";
