import type { AppModule } from "../../core/http/module.js";
import { rbacRoutes } from "./rbac.routes.js";

export { type RoleSummary, rolesSystemRepository } from "./roles.repository.js";

/** Roles and permissions: the catalog route. */
export const rbacModule: AppModule = async (app) => {
  await app.register(rbacRoutes);
};
