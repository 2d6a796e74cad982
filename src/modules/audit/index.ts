import type { AppModule } from "../../core/http/module.js";
import { auditRoutes } from "./audit.routes.js";

/** The audit log's read route; rows are written by triggers and `audit.record` (core/audit). */
export const auditModule: AppModule = async (app) => {
  await app.register(auditRoutes);
};
