import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { platformAdminOnly } from "../../core/http/access.js";
import {
  listTenantsQuery,
  platformTenantPageSchema,
  platformTenantSchema,
  setStatusBody,
  tenantParams,
} from "./admin.schemas.js";
import type { AdminService } from "./admin.service.js";

export const adminRoutes: FastifyPluginAsyncZod<{ admin: AdminService }> = async (
  app,
  { admin },
) => {
  app.get(
    "/admin/tenants",
    {
      config: { access: platformAdminOnly },
      schema: {
        operationId: "listAllTenants",
        summary: "List every tenant",
        description: "Platform administrators only; each call is audited.",
        tags: ["admin"],
        querystring: listTenantsQuery,
        response: { 200: platformTenantPageSchema },
      },
    },
    async (request) => admin.listTenants(request.query.limit, request.query.cursor),
  );

  app.patch(
    "/admin/tenants/:id",
    {
      config: { access: platformAdminOnly },
      schema: {
        operationId: "setTenantStatus",
        summary: "Suspend or reactivate a tenant",
        description:
          "Platform administrators only; audited. A suspended tenant's members get 403 on every tenant route.",
        tags: ["admin"],
        params: tenantParams,
        body: setStatusBody,
        response: { 200: platformTenantSchema },
      },
    },
    async (request) => admin.setStatus(request.params.id, request.body.status),
  );
};
