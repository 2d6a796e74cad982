import { defineModule } from "../../core/http/module.js";
import { tenantsPermissions } from "./tenants.permissions.js";
import { tenantsRoutes } from "./tenants.routes.js";
import { createTenantsService } from "./tenants.service.js";

export { createTenantsService, type TenantsService } from "./tenants.service.js";

/** Tenants: creating one, the current tenant's routes, and tenant creation for registration. */
export const tenantsModule = defineModule(
  async (app, { config, database, cache, sessions, audit }) => {
    await app.register(tenantsRoutes, {
      tenants: createTenantsService({ database, cache, sessions, audit }),
      creationsPerUserPerDay: config.tenantCreationsPerUserPerDay,
    });
  },
  { permissions: tenantsPermissions },
);
