import { readdirSync } from "node:fs";
import { join } from "node:path";
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
import { loadRouteExpectations } from "../helpers/route-expectations.js";

/**
 * The catalog assembled from modules' declarations, and the types it gives requirePermission.
 * `notes` is the tests' fixture module (test/fixtures/notes-module/), registered for the types
 * of test code by test/helpers/test-modules.ts, so these hold whichever modules a project has.
 */

describe("requirePermission's types", () => {
  it("accept the registered modules' permissions and refuse anything else", () => {
    expect(requirePermission("notes", "read")).toMatchObject({ permissions: ["notes:read"] });
    expect(requirePermission("members", "invite")).toMatchObject({
      permissions: ["members:invite"],
    });
    // Checked by `tsc --noEmit`: each line fails to compile without its directive.
    // @ts-expect-error an action notes does not declare
    requirePermission("notes", "fly");
    // @ts-expect-error a resource no registered module declares
    requirePermission("notez", "read");
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
  const granted = new Set(["notes:read", "members:invite"]);
  /** Whether the access check lets a caller holding `held` through `declaration`. */
  const allows = (
    declaration: ReturnType<typeof requireAnyPermission>,
    held: ReadonlySet<string>,
  ) => {
    if (declaration.kind !== "permission") throw new Error(`a ${declaration.kind} declaration`);
    return satisfies(declaration, held);
  };

  it("let a caller in with one of the permissions, or only with all of them", () => {
    const any = requireAnyPermission("notes:delete", "members:invite");
    const all = requireAllPermissions("notes:read", "notes:delete");
    expect(any).toEqual({
      kind: "permission",
      mode: "any",
      permissions: ["notes:delete", "members:invite"],
    });
    expect(allows(any, granted)).toBe(true);
    expect(allows(all, granted)).toBe(false);
    expect(allows(all, new Set([...granted, "notes:delete"]))).toBe(true);
    expect(allows(requireAnyPermission("notes:delete"), granted)).toBe(false);
    expect(Object.isFrozen(all)).toBe(true);
  });

  it("take only the catalog's permissions, and at least one", () => {
    // Checked by `tsc --noEmit`, as above.
    // @ts-expect-error a permission no registered module declares
    requireAnyPermission("notes:fly");
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
    expect(catalog.isGrant("members:read")).toBe(false);
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
  it("is what the module list installs: each module's permissions, as its expectations list them", async () => {
    // The kit's modules' expectations (test/integration/modules/<module>/), not the fixtures'.
    const kitModules = new Set(readdirSync(join(import.meta.dirname, "../../src/modules")));
    const declared = [...(await loadRouteExpectations())]
      .filter(([name]) => kitModules.has(name))
      .map(([, module]) => module.permissions);
    expect(new Set(permissions.all)).toEqual(new Set(declared.flat()));
    expect(permissions.all).toContain("members:invite");
    for (const own of declared) {
      expect(permissions.all.filter((permission) => own.includes(permission))).toEqual(own);
    }
  });
});
