import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { signedIn } from "../../core/http/access.js";
import { requirePermission } from "../../core/permissions/index.js";
import { renameTenantBody, tenantSchema } from "./tenants.schemas.js";
import { type TenantsService, toTenantResponse } from "./tenants.service.js";

export const tenantsRoutes: FastifyPluginAsyncZod<{ tenants: TenantsService }> = async (
  app,
  { tenants },
) => {
  app.get(
    "/tenants/current",
    {
      config: { access: signedIn },
      schema: {
        summary: "Get the current tenant",
        description: "The tenant of the access token.",
        tags: ["tenants"],
        response: { 200: tenantSchema },
      },
    },
    async (request) => toTenantResponse(await tenants.current(request.tenantDb)),
  );

  app.patch(
    "/tenants/current",
    {
      config: { access: requirePermission("tenants", "update") },
      schema: {
        summary: "Rename the current tenant",
        description: "The slug stays as it is, so links that use it keep working.",
        tags: ["tenants"],
        body: renameTenantBody,
        response: { 200: tenantSchema },
      },
    },
    async (request) => toTenantResponse(await tenants.rename(request.tenantDb, request.body.name)),
  );

  app.delete(
    "/tenants/current",
    {
      config: { access: requirePermission("tenants", "delete") },
      schema: {
        summary: "Delete the current tenant",
        description: "Deletes the tenant and every row that belongs to it.",
        tags: ["tenants"],
        response: { 204: z.null().describe("Deleted") },
      },
    },
    async (request, reply) => {
      await tenants.remove(request.tenantDb);
      return reply.code(204).send(null);
    },
  );
};
