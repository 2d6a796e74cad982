export {
  type ActionOf,
  ALL_PERMISSIONS,
  DEFAULT_ROLES,
  type DefaultRoleName,
  expandGrants,
  isGrant,
  PERMISSIONS,
  type Permission,
  type PermissionGrant,
  type Resource,
} from "./catalog.js";
export {
  requireAllPermissions,
  requireAnyPermission,
  requirePermission,
  satisfies,
} from "./require.js";
