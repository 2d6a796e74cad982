import type { AccessDeclaration } from "../http/access.js";
import type { ActionOf, Permission, Resource } from "./catalog.js";

/**
 * Route access declarations that need permissions of the caller's roles in the token's tenant.
 * Typed over the catalog: a misspelt resource, action or permission does not compile.
 *
 *   config: { access: requirePermission("items", "read") }
 */
export function requirePermission<R extends Resource>(
  resource: R,
  action: ActionOf<R>,
): AccessDeclaration {
  return permissionDeclaration("all", [`${resource}:${action}` as Permission]);
}

/** The caller needs at least one of `permissions`. */
export function requireAnyPermission(...permissions: [Permission, ...Permission[]]) {
  return permissionDeclaration("any", permissions);
}

/** The caller needs every one of `permissions`. */
export function requireAllPermissions(...permissions: [Permission, ...Permission[]]) {
  return permissionDeclaration("all", permissions);
}

function permissionDeclaration(
  mode: "all" | "any",
  permissions: readonly Permission[],
): AccessDeclaration {
  return Object.freeze({ kind: "permission", mode, permissions: Object.freeze([...permissions]) });
}

/** Whether `granted` satisfies a permission declaration. */
export function satisfies(
  declaration: { readonly mode: "all" | "any"; readonly permissions: readonly string[] },
  granted: ReadonlySet<string>,
): boolean {
  return declaration.mode === "all"
    ? declaration.permissions.every((permission) => granted.has(permission))
    : declaration.permissions.some((permission) => granted.has(permission));
}
