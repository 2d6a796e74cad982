/**
 * The module list: the kit's feature modules, mounted by `createApp` under /api/v1 in this order,
 * and the permission catalog assembled from what they declare. Adding a module is one line here.
 * Loading this file installs the catalog (`permissionCatalog()` in core/permissions).
 */
import type { AppModule } from "./core/http/module.js";
import { installPermissionCatalog } from "./core/permissions/index.js";
import { adminModule } from "./modules/admin/index.js";
import { auditModule } from "./modules/audit/index.js";
import { authModule } from "./modules/auth/index.js";
import { invitationsModule } from "./modules/invitations/index.js";
import { itemsModule } from "./modules/items/index.js";
import { oauthModule } from "./modules/oauth/index.js";
import { rbacModule } from "./modules/rbac/index.js";
import { tenantsModule } from "./modules/tenants/index.js";
import { usersModule } from "./modules/users/index.js";

/** The kit's feature modules, mounted under /api/v1 in this order. */
export const defaultModules = [
  authModule,
  oauthModule,
  usersModule,
  rbacModule,
  invitationsModule,
  tenantsModule,
  itemsModule,
  auditModule,
  adminModule,
] as const satisfies readonly AppModule[];

/** The catalog of every module's permissions, in module order; their default-role grants. */
export const permissions = installPermissionCatalog(defaultModules);

declare module "./core/permissions/catalog.js" {
  interface RegisteredModules {
    modules: typeof defaultModules;
  }
}
