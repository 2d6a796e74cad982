import { permissions as catalog } from "../../../src/modules.js";
import { markdownTable } from "./markdown.js";

const code = (value: string) => `\`${value}\``;

/** docs/permissions.md's table of the default roles, with the grants the modules declare. */
export function defaultRolesTable(): string {
  return markdownTable(
    ["role", "description", "grants"],
    catalog.defaultRoles.map((role) => [
      code(role.name),
      role.description,
      role.grants.map(code).join(", "),
    ]),
  );
}

/** Every permission of the catalog, and which default roles hold it (wildcards expanded). */
export function permissionsTable(): string {
  const held = catalog.defaultRoles.map((role) => new Set(catalog.expandGrants(role.grants)));
  return markdownTable(
    ["permission", "allows", ...catalog.defaultRoles.map((role) => code(role.name))],
    [...catalog.permissions].map(([permission, allows]) => [
      code(permission),
      allows,
      ...held.map((permissions) => (permissions.has(permission) ? "yes" : "")),
    ]),
  );
}
