import type { AppModule } from "../../src/app.js";
import { installPermissionCatalog } from "../../src/core/permissions/index.js";
import { defaultModules } from "../../src/modules.js";
import { notesModule } from "../fixtures/notes-module/index.js";

/**
 * The modules of the apps tests build: the kit's `defaultModules`, then the notes fixture
 * (test/fixtures/notes-module/), the tenant-scoped resource of the kit's cross-cutting tests.
 * `buildTestApp` and `setupTenancyTest` register these unless given modules.
 */
export const testModules = [...defaultModules, notesModule] as const satisfies readonly AppModule[];

/**
 * The permission catalog of a test process, notes included. Installed when this file loads,
 * after src/modules.ts installed the kit's (an import of this file): the integration tests load
 * it first (a setup file in vitest.config.ts), so the tenants they make get the notes grants
 * on their default roles, and GET /api/v1/permissions lists them.
 */
export const testPermissions = installPermissionCatalog(testModules);

// Test code only (tsconfig.build.json compiles src/ alone): `requirePermission("notes", ...)`.
declare module "../../src/core/permissions/catalog.js" {
  interface RegisteredModules {
    testModules: typeof testModules;
  }
}
