import { defineModule } from "../../core/http/module.js";
import { rbacPermissions } from "./rbac.permissions.js";
import { rbacRoutes } from "./rbac.routes.js";
import { createRbacService } from "./rbac.service.js";

export { ensureHeld, grantsNotHeld } from "./rbac.service.js";
export { createRolesService, type RolesService } from "./roles.service.js";

/** Roles and permissions: the catalog, the tenant's roles and its members. */
export const rbacModule = defineModule(
  async (app, { sessions }) => {
    await app.register(rbacRoutes, { rbac: createRbacService({ sessions }) });
  },
  { permissions: rbacPermissions },
);
