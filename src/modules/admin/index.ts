import type { AppModule } from "../../core/http/module.js";
import { adminRoutes } from "./admin.routes.js";
import { createAdminService } from "./admin.service.js";

/** Platform administration under /admin: every tenant, suspension. */
export const adminModule: AppModule = async (app, { database, audit, cache }) => {
  await app.register(adminRoutes, { admin: createAdminService({ database, audit, cache }) });
};
