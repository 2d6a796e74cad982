import { z } from "zod";
import { TENANT_PLANS } from "../../core/database/index.js";
import { pageQueryFields, pageSchemaOf } from "../../core/http/cursor.js";

export const platformTenantSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    slug: z.string(),
    plan: z.enum(TENANT_PLANS),
    status: z.enum(["active", "suspended"]),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: "PlatformTenant" });

export const platformTenantPageSchema = pageSchemaOf(platformTenantSchema).meta({
  id: "PlatformTenantPage",
});

export const listTenantsQuery = z.strictObject(pageQueryFields);

export const tenantParams = z.strictObject({ id: z.uuid() });
export const setStatusBody = z.strictObject({ status: z.enum(["active", "suspended"]) });

export type PlatformTenant = z.infer<typeof platformTenantSchema>;
