export {
  ALL_PERMISSIONS,
  DEFAULT_ROLE_GRANTS,
  expandGrants,
  PERMISSIONS,
  type Permission,
  type PermissionGrant,
} from "./catalog.js";
