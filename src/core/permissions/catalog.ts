/**
 * The permission catalog: every `resource:action` the kit checks, with what it allows. Each
 * feature module declares its own resources and their default-role grants (`definePermissions`
 * in `<module>.permissions.ts`, attached by `defineModule`); the module list (src/modules.ts)
 * assembles them with `installPermissionCatalog` and registers their types in
 * `RegisteredModules`. Core never imports a module: it only reads what was installed.
 */

/**
 * Filled in by the module list (src/modules.ts) through declaration merging:
 * `interface RegisteredModules { modules: typeof defaultModules }`. The catalog's types come
 * from the modules of every key, so `requirePermission("items", "fly")` does not compile; the
 * tests register their own list under another key (test/helpers/test-modules.ts).
 * @public (knip does not count a `declare module` augmentation as a use)
 */
// biome-ignore lint/suspicious/noEmptyInterface: augmented by the module list
export interface RegisteredModules {}

/** The roles every tenant starts with, as system roles (they cannot be changed or deleted). */
export const DEFAULT_ROLE_NAMES = ["owner", "admin", "member", "viewer"] as const;
export type DefaultRoleName = (typeof DEFAULT_ROLE_NAMES)[number];
/** Every default role but `owner`, which holds `*`: the ones a module grants its actions to. */
type GrantableRole = Exclude<DefaultRoleName, "owner">;

const DEFAULT_ROLE_DESCRIPTIONS: Record<DefaultRoleName, string> = {
  owner: "Everything, including deleting the tenant",
  admin: "Everything except deleting the tenant",
  member: "Works with items and sees the members",
  viewer: "Reads items and sees the members",
};

/** One resource of a module: its actions with what each allows, and who holds them by default. */
export interface ResourceDeclaration<A extends string = string> {
  readonly actions: { readonly [action in A]: string };
  /** Per default role: `"*"` (every action, now and later, stored as `resource:*`) or a list. */
  readonly grants?: { readonly [role in GrantableRole]?: "*" | readonly A[] };
}

/** A module's resources, by name. */
export type PermissionDeclarations = { readonly [resource: string]: ResourceDeclaration };

/**
 * A module's permissions, typed exactly as written. A grant of an action the resource does not
 * declare does not compile.
 */
export function definePermissions<
  const D extends { readonly [R in keyof D]: ResourceDeclaration<keyof D[R]["actions"] & string> },
>(declarations: D): D {
  return declarations;
}

/** Every module of every list registered: a test's own list may add modules to the kit's. */
type Registered = {
  [K in keyof RegisteredModules]: RegisteredModules[K] extends readonly (infer M)[] ? M : never;
}[keyof RegisteredModules];
type DeclarationsOf<M> = M extends { readonly permissions: infer D } ? D : never;
type PermissionsOf<D> = D extends PermissionDeclarations
  ? { [R in keyof D & string]: `${R}:${keyof D[R]["actions"] & string}` }[keyof D & string]
  : never;

/** Every permission the registered modules declare. */
export type Permission = PermissionsOf<DeclarationsOf<Registered>>;
export type PermissionGrant = Permission | `${string}:*` | "*";

/** The resources of the catalog, and the actions of each: `requirePermission("items", "read")`. */
export type Resource = Permission extends `${infer R}:${string}` ? R : never;
export type ActionOf<R extends Resource> = Permission extends infer P
  ? P extends `${R}:${infer A}`
    ? A
    : never
  : never;

interface DefaultRole {
  readonly name: DefaultRoleName;
  readonly description: string;
  readonly grants: readonly PermissionGrant[];
}

export interface PermissionCatalog {
  /** Every permission with what it allows, in module order, then declaration order. */
  readonly permissions: ReadonlyMap<Permission, string>;
  readonly all: readonly Permission[];
  /** The default roles with the grants the modules give them (`owner` holds `*`). */
  readonly defaultRoles: readonly DefaultRole[];
  /** Whether `grant` is a catalog permission, `resource:*` for a catalog resource, or `*`. */
  isGrant(grant: string): grant is PermissionGrant;
  /** The catalog permissions that `grants` cover, wildcards expanded, in catalog order. */
  expandGrants(grants: readonly string[]): Permission[];
}

const NAME = /^[a-z][a-z0-9-]*$/;

/**
 * Assembles the catalog from modules' declarations, in their order. A resource belongs to one
 * module: declaring it twice throws, as does a name that could not be a grant.
 */
export function createPermissionCatalog(
  modules: readonly { readonly permissions?: PermissionDeclarations }[],
): PermissionCatalog {
  const permissions = new Map<Permission, string>();
  const roleGrants: Record<GrantableRole, PermissionGrant[]> = {
    admin: [],
    member: [],
    viewer: [],
  };
  const resources = new Set<string>();
  for (const declarations of modules.map((module) => module.permissions ?? {})) {
    for (const [resource, declaration] of Object.entries(declarations)) {
      if (!NAME.test(resource)) throw new Error(`permission resource ${resource}: not a name`);
      if (resources.has(resource))
        throw new Error(`permission resource ${resource}: declared twice`);
      resources.add(resource);
      for (const [action, description] of Object.entries<string>(declaration.actions)) {
        if (!NAME.test(action)) throw new Error(`permission ${resource}:${action}: not a name`);
        permissions.set(`${resource}:${action}` as Permission, description);
      }
      for (const [role, granted] of Object.entries(declaration.grants ?? {})) {
        roleGrants[role as GrantableRole].push(
          ...(granted === "*"
            ? [`${resource}:*` as const]
            : granted.map((action) => `${resource}:${action}` as Permission)),
        );
      }
    }
  }
  const all = [...permissions.keys()];
  const defaultRoles = DEFAULT_ROLE_NAMES.map((name) => ({
    name,
    description: DEFAULT_ROLE_DESCRIPTIONS[name],
    grants: name === "owner" ? (["*"] as const) : roleGrants[name],
  }));
  return {
    permissions,
    all,
    defaultRoles,
    isGrant(grant): grant is PermissionGrant {
      if (grant === "*" || permissions.has(grant as Permission)) return true;
      const resource = grant.endsWith(":*") ? grant.slice(0, -2) : undefined;
      return resource !== undefined && resources.has(resource);
    },
    expandGrants(grants) {
      return all.filter((permission) =>
        grants.some(
          (grant) =>
            grant === "*" ||
            grant === permission ||
            (grant.endsWith(":*") && permission.startsWith(grant.slice(0, -1))),
        ),
      );
    },
  };
}

let installed: PermissionCatalog | undefined;

/**
 * Assembles the catalog of `modules` and makes it the one `permissionCatalog()` returns. The
 * module list (src/modules.ts) calls it once, when it is loaded.
 */
export function installPermissionCatalog(
  modules: readonly { readonly permissions?: PermissionDeclarations }[],
): PermissionCatalog {
  installed = createPermissionCatalog(modules);
  return installed;
}

/** The installed catalog; throws when the module list has not been loaded. */
export function permissionCatalog(): PermissionCatalog {
  if (!installed) {
    throw new Error(
      "The permission catalog is not installed: load the module list (src/modules.ts) first",
    );
  }
  return installed;
}

/** `permissionCatalog().isGrant`. */
export function isGrant(grant: string): grant is PermissionGrant {
  return permissionCatalog().isGrant(grant);
}

/** `permissionCatalog().expandGrants`. */
export function expandGrants(grants: readonly string[]): Permission[] {
  return permissionCatalog().expandGrants(grants);
}
