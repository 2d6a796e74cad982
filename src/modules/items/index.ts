import { defineModule } from "../../core/http/module.js";
import { itemsPermissions } from "./items.permissions.js";
import { itemsRoutes } from "./items.routes.js";

export { itemsService } from "./items.service.js";
export { type ItemRow, items } from "./items.table.js";

/** Items: the example tenant-scoped module (routes -> service -> repository -> table). */
export const itemsModule = defineModule(
  async (app) => {
    await app.register(itemsRoutes);
  },
  { permissions: itemsPermissions },
);
