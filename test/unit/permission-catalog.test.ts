import { describe, expect, it } from "vitest";
import {
  createPermissionCatalog,
  definePermissions,
  requireAllPermissions,
  requireAnyPermission,
  requirePermission,
  satisfies,
} from "../../src/core/permissions/index.js";
import { permissions } from "../../src/modules.js";

/** The catalog assembled from modules' declarations, and the types it gives requirePermission. */

describe("requirePermission's types", () => {
  it("accept the registered modules' permissions and refuse anything else", () => {
    expect(requirePermission("items", "read")).toMatchObject({ permissions: ["items:read"] });
    expect(requirePermission("members", "invite")).toMatchObject({
      permissions: ["members:invite"],
    });
    // Checked by `tsc --noEmit`: each line fails to compile without its directive.
    // @ts-expect-error an action items does not declare
    requirePermission("items", "fly");
    // @ts-expect-error a resource no registered module declares
    requirePermission("itemz", "read");
    // @ts-expect-error an action of another resource
    requirePermission("audit", "delete");
  });

  it("refuse a default-role grant of an undeclared action", () => {
    definePermissions({
      // @ts-expect-error `fly` is not an action of `things`
      things: { actions: { read: "Read things" }, grants: { viewer: ["read", "fly"] } },
    });
  });
});

describe("requireAnyPermission and requireAllPermissions", () => {
  const granted = new Set(["items:read", "members:invite"]);
  /** Whether the access check lets a caller holding `held` through `declaration`. */
  const allows = (
    declaration: ReturnType<typeof requireAnyPermission>,
    held: ReadonlySet<string>,
  ) => {
    if (declaration.kind !== "permission") throw new Error(`a ${declaration.kind} declaration`);
    return satisfies(declaration, held);
  };

  it("let a caller in with one of the permissions, or only with all of them", () => {
    const any = requireAnyPermission("items:delete", "members:invite");
    const all = requireAllPermissions("items:read", "items:delete");
    expect(any).toEqual({
      kind: "permission",
      mode: "any",
      permissions: ["items:delete", "members:invite"],
    });
    expect(allows(any, granted)).toBe(true);
    expect(allows(all, granted)).toBe(false);
    expect(allows(all, new Set([...granted, "items:delete"]))).toBe(true);
    expect(allows(requireAnyPermission("items:delete"), granted)).toBe(false);
    expect(Object.isFrozen(all)).toBe(true);
  });

  it("take only the catalog's permissions, and at least one", () => {
    // Checked by `tsc --noEmit`, as above.
    // @ts-expect-error a permission no registered module declares
    requireAnyPermission("items:fly");
    // @ts-expect-error no permission at all
    requireAllPermissions();
  });
});

describe("createPermissionCatalog", () => {
  const things = definePermissions({
    things: {
      actions: { read: "Read things", write: "Write things" },
      grants: { admin: "*", member: ["read", "write"], viewer: ["read"] },
    },
  });
  const notes = definePermissions({
    notes: { actions: { read: "Read notes" }, grants: { admin: ["read"] } },
  });

  it("lists the modules' permissions in module order, and gives the default roles their grants", () => {
    const catalog = createPermissionCatalog([{ permissions: notes }, {}, { permissions: things }]);
    expect([...catalog.permissions]).toEqual([
      ["notes:read", "Read notes"],
      ["things:read", "Read things"],
      ["things:write", "Write things"],
    ]);
    expect(catalog.defaultRoles.map((role) => [role.name, role.grants])).toEqual([
      ["owner", ["*"]],
      ["admin", ["notes:read", "things:*"]],
      ["member", ["things:read", "things:write"]],
      ["viewer", ["things:read"]],
    ]);
    expect(catalog.expandGrants(["things:*"])).toEqual(["things:read", "things:write"]);
    expect(catalog.isGrant("notes:*")).toBe(true);
    expect(catalog.isGrant("items:read")).toBe(false);
  });

  it("refuses a resource two modules declare", () => {
    expect(() =>
      createPermissionCatalog([{ permissions: things }, { permissions: things }]),
    ).toThrow("permission resource things: declared twice");
  });

  it("refuses a name that could not be a grant", () => {
    expect(() =>
      createPermissionCatalog([{ permissions: { "a:b": { actions: { read: "x" } } } }]),
    ).toThrow("not a name");
    expect(() =>
      createPermissionCatalog([{ permissions: { a: { actions: { "*": "x" } } } }]),
    ).toThrow("not a name");
  });
});

describe("the kit's catalog", () => {
  it("is what the module list installs", () => {
    expect(permissions.all).toEqual([
      "members:read",
      "members:invite",
      "members:update",
      "members:delete",
      "roles:read",
      "roles:create",
      "roles:update",
      "roles:delete",
      "tenants:update",
      "tenants:delete",
      "items:read",
      "items:create",
      "items:update",
      "items:delete",
      "audit:read",
    ]);
  });
});
