import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { requirePermission } from "../../core/permissions/index.js";
import { auditPageSchema, auditQuery } from "./audit.schemas.js";
import type { AuditService } from "./audit.service.js";

export const auditRoutes: FastifyPluginAsyncZod<{ auditLog: AuditService }> = async (
  app,
  { auditLog },
) => {
  app.get(
    "/audit-logs",
    {
      config: { access: requirePermission("audit", "read") },
      schema: {
        operationId: "listAuditLogs",
        summary: "Read the audit log",
        description:
          "Newest first. Row changes of audited tables (items, roles, members, the tenant) and events such as sign-in, sign-out and refresh-token reuse.",
        tags: ["audit"],
        querystring: auditQuery,
        response: { 200: auditPageSchema },
      },
    },
    async (request) => auditLog.list(request.tenantDb, request.query),
  );
};
