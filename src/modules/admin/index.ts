import type { AppModule } from "../../core/http/module.js";
import { adminRoutes } from "./admin.routes.js";
import { createAdminService } from "./admin.service.js";

export { createPlatformAdmins } from "./platform-admins.js";

/**
 * Platform administration under /admin: every tenant, suspension. Who is a platform admin is
 * changed from the command line (`npm run platform-admin`, `createPlatformAdmins`).
 */
export const adminModule: AppModule = async (app, { database, audit, cache }) => {
  await app.register(adminRoutes, { admin: createAdminService({ database, audit, cache }) });
};
