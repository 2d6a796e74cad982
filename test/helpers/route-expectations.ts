import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import type { Permission } from "../../src/core/permissions/index.js";

/**
 * What each module's signed-in routes expect, declared beside the module's tests in
 * test/integration/modules/<module>/<module>.routes-expectations.ts (and beside a fixture module,
 * test/fixtures/<module>-module/<module>.routes-expectations.ts) and read here for the route
 * x role matrix (permissions.test.ts), tenant isolation (tenant-isolation.test.ts) and the
 * default roles (rbac.test.ts, auth.test.ts). Written from the HTTP contract by hand, never read
 * from the code they check.
 */

/** What `arrange` in permissions.test.ts made: a fresh tenant and a token for the caller. */
export interface MatrixSetup {
  tenantId: string;
  customRoleId: string;
  viewerRoleId: string;
  otherMemberId: string;
  invitationId: string;
  /** What the route's module arranged (its `arrange`): ids by name. */
  arranged: Readonly<Record<string, string>>;
  headers: { authorization: string };
}

/** A request to the app as the arranged tenant's owner. */
type OwnerRequest = (request: InjectOptions) => Promise<LightMyRequestResponse>;

export type Requirement = "member" | "platform-admin" | Permission;

export interface RouteExpectation {
  /** The permission the route declares, `member` (signedIn) or `platform-admin`. */
  readonly requires: Requirement;
  /** The answer when allowed. */
  readonly status: number;
  /** The path to call in the matrix, required when the route has a path parameter. */
  readonly url?: (setup: MatrixSetup) => string;
  readonly payload?: (setup: MatrixSetup) => Record<string, unknown>;
  /** `tenant` for the tenant's data (refused for a suspended tenant), `account` for the user's. */
  readonly scope: "tenant" | "account";
  /** The request tenant-isolation.test.ts sends; `noteId` names a note of the caller's tenant. */
  readonly isolation?: {
    readonly url?: (noteId: string) => string;
    readonly payload?: Record<string, unknown>;
  };
}

type GrantableRole = "admin" | "member" | "viewer";

export interface ModuleExpectations {
  /** Every permission the module declares, in its declaration order. */
  readonly permissions: readonly Permission[];
  /** The default roles' grants as stored (`notes:*`), per role; `owner` holds `*`. */
  readonly defaultGrants: { readonly [role in GrantableRole]?: readonly string[] };
  /** Keyed `METHOD path` as /openapi.json writes it. */
  readonly routes: { readonly [route: string]: RouteExpectation };
  /**
   * Rows the module's routes need in the matrix's tenant, made by its owner before each call to
   * one of them: their ids, by name, become `setup.arranged`.
   */
  readonly arrange?: (send: OwnerRequest) => Promise<Record<string, string>>;
}

export function defineRouteExpectations(expectations: ModuleExpectations): ModuleExpectations {
  return expectations;
}

const MODULE_TESTS = join(import.meta.dirname, "../integration/modules");
const MODULE_SOURCES = join(import.meta.dirname, "../../src/modules");
const FIXTURES = join(import.meta.dirname, "../fixtures");
const FIXTURE_MODULE = /^([a-z][a-z0-9-]*)-module$/;

/**
 * Every module's expectations, by module name: the kit's modules' (a folder under
 * test/integration/modules/ that is not a module of src/modules/, or that has no expectations
 * file, fails), then the fixture modules' (test/fixtures/<module>-module/), which the apps of
 * the tests register too (test-modules.ts).
 */
export async function loadRouteExpectations(): Promise<Map<string, ModuleExpectations>> {
  const modules = new Set(readdirSync(MODULE_SOURCES));
  const files: [string, string][] = [];
  for (const folder of readdirSync(MODULE_TESTS).sort()) {
    if (!modules.has(folder)) throw new Error(`test/integration/modules/${folder}: no such module`);
    files.push([folder, join(MODULE_TESTS, folder, `${folder}.routes-expectations.ts`)]);
  }
  for (const folder of readdirSync(FIXTURES).sort()) {
    const name = FIXTURE_MODULE.exec(folder)?.[1];
    if (name) files.push([name, join(FIXTURES, folder, `${name}.routes-expectations.ts`)]);
  }
  const loaded = new Map<string, ModuleExpectations>();
  for (const [name, file] of files) {
    if (loaded.has(name)) throw new Error(`${file}: module ${name} has expectations already`);
    const { default: expectations } = (await import(file)) as { default: ModuleExpectations };
    if (!expectations) throw new Error(`${file}: needs a default export (defineRouteExpectations)`);
    loaded.set(name, expectations);
  }
  return loaded;
}

/** Every module's routes in one table; a route two modules claim fails. */
export function allRoutes(
  expectations: ReadonlyMap<string, ModuleExpectations>,
): Map<string, RouteExpectation> {
  const routes = new Map<string, RouteExpectation>();
  for (const [folder, module] of expectations) {
    for (const [route, expectation] of Object.entries(module.routes)) {
      if (routes.has(route))
        throw new Error(`${route} is expected by ${folder} and another module`);
      routes.set(route, expectation);
    }
  }
  return routes;
}

/** A default role's permissions, the modules' wildcards expanded over their own permissions. */
export function expectedPermissionsOf(
  expectations: ReadonlyMap<string, ModuleExpectations>,
  role: "owner" | GrantableRole,
): Set<string> {
  const held = new Set<string>();
  for (const module of expectations.values()) {
    const grants = role === "owner" ? ["*"] : (module.defaultGrants[role] ?? []);
    for (const permission of module.permissions) {
      const resource = permission.slice(0, permission.indexOf(":"));
      if (grants.some((g) => g === "*" || g === permission || g === `${resource}:*`)) {
        held.add(permission);
      }
    }
  }
  return held;
}

/** A default role's grants as stored, sorted (as GET /roles lists them). */
export function expectedGrantsOf(
  expectations: ReadonlyMap<string, ModuleExpectations>,
  role: "owner" | GrantableRole,
): string[] {
  if (role === "owner") return ["*"];
  return [...expectations.values()].flatMap((module) => module.defaultGrants[role] ?? []).sort();
}
