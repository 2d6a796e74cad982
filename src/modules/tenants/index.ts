import type { AppModule } from "../../core/http/module.js";
import { tenantsRoutes } from "./tenants.routes.js";
import { createTenantsService } from "./tenants.service.js";

export { createTenantsService, type TenantsService } from "./tenants.service.js";

/** Tenants: the current tenant's routes, and tenant creation for registration and tests. */
export const tenantsModule: AppModule = async (app, { database, cache }) => {
  await app.register(tenantsRoutes, { tenants: createTenantsService({ database, cache }) });
};
