import {
  ALL_PERMISSIONS,
  DEFAULT_ROLES,
  expandGrants,
  PERMISSIONS,
} from "../../../src/core/permissions/catalog.js";
import { markdownTable } from "./markdown.js";

const code = (value: string) => `\`${value}\``;

/** docs/permissions.md's table of the default roles, as `DEFAULT_ROLES` defines them. */
export function defaultRolesTable(): string {
  return markdownTable(
    ["role", "description", "grants"],
    DEFAULT_ROLES.map((role) => [
      code(role.name),
      role.description,
      role.grants.map(code).join(", "),
    ]),
  );
}

/** Every permission of the catalog, and which default roles hold it (wildcards expanded). */
export function permissionsTable(): string {
  const held = DEFAULT_ROLES.map((role) => new Set(expandGrants(role.grants)));
  return markdownTable(
    ["permission", "allows", ...DEFAULT_ROLES.map((role) => code(role.name))],
    ALL_PERMISSIONS.map((permission) => [
      code(permission),
      PERMISSIONS[permission],
      ...held.map((permissions) => (permissions.has(permission) ? "yes" : "")),
    ]),
  );
}
