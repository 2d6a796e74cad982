import type { AppModule } from "../../core/http/module.js";
import { tenantsRoutes } from "./tenants.routes.js";
import { createTenantsService } from "./tenants.service.js";

export { tenantSchema } from "./tenants.schemas.js";
export {
  createTenantsService,
  createTenantWithin,
  type TenantsService,
  toTenantResponse,
} from "./tenants.service.js";

/** Tenants: the current tenant's routes, and tenant creation for registration and tests. */
export const tenantsModule: AppModule = async (app, { database, cache, sessions }) => {
  await app.register(tenantsRoutes, {
    tenants: createTenantsService({ database, cache, sessions }),
  });
};
