import type { AppModule } from "../../core/http/module.js";
import { itemsRoutes } from "./items.routes.js";

export { itemsService } from "./items.service.js";
export { type ItemRow, items } from "./items.table.js";

/** Items: the example tenant-scoped module (routes -> service -> repository -> table). */
export const itemsModule: AppModule = async (app) => {
  await app.register(itemsRoutes);
};
