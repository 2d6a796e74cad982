import { defineModule } from "../../core/http/module.js";
import { auditPermissions } from "./audit.permissions.js";
import { auditRoutes } from "./audit.routes.js";
import { createAuditService } from "./audit.service.js";

/** The audit log's read route; rows are written by triggers and `audit.record` (core/audit). */
export const auditModule = defineModule(
  async (app) => {
    await app.register(auditRoutes, { auditLog: createAuditService() });
  },
  { permissions: auditPermissions },
);
