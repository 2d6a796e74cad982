import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { principalOf } from "../../core/auth/index.js";
import { signedIn, signedInTenantOptional } from "../../core/http/access.js";
import { requirePermission } from "../../core/permissions/index.js";
import { createTenantBody, renameTenantBody, tenantSchema } from "./tenants.schemas.js";
import { type TenantsService, toTenantResponse } from "./tenants.service.js";

const DAY_SECONDS = 86_400;

export const tenantsRoutes: FastifyPluginAsyncZod<{
  tenants: TenantsService;
  /** Calls one user may make a day (TENANT_CREATION_LIMIT_PER_USER). */
  creationsPerUserPerDay: number;
}> = async (app, { tenants, creationsPerUserPerDay }) => {
  app.post(
    "/tenants",
    {
      config: {
        access: signedInTenantOptional,
        rateLimit: { points: creationsPerUserPerDay, durationSeconds: DAY_SECONDS, by: "user" },
      },
      schema: {
        operationId: "createTenant",
        summary: "Create a tenant",
        description:
          "Any signed-in user, also one with no active tenant, creates a tenant with the default roles and becomes its owner; POST /auth/switch-tenant then gives a token for it. Limited per user per day (429 with Retry-After beyond).",
        tags: ["tenants"],
        body: createTenantBody,
        response: { 201: tenantSchema },
      },
    },
    async (request, reply) => {
      const tenant = await tenants.createOwned(principalOf(request).userId, request.body.name);
      return reply.code(201).send(toTenantResponse(tenant));
    },
  );

  app.get(
    "/tenants/current",
    {
      config: { access: signedIn },
      schema: {
        operationId: "getCurrentTenant",
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
        operationId: "renameCurrentTenant",
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
        operationId: "deleteCurrentTenant",
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
