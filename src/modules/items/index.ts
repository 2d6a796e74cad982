import { defineModule } from "../../core/http/module.js";
import { itemsPermissions } from "./items.permissions.js";
import { itemsRoutes } from "./items.routes.js";
import { createItemsService } from "./items.service.js";

/** Items: the example tenant-scoped module (routes -> service -> repository -> table). */
export const itemsModule = defineModule(
  async (app) => {
    // Built once per application; each route calls it with the request's tenant scope.
    await app.register(itemsRoutes, { items: createItemsService() });
  },
  { permissions: itemsPermissions },
);
