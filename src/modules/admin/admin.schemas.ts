import { z } from "zod";
import { TENANT_PLANS } from "../../core/database/index.js";

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

export const platformTenantPageSchema = z
  .object({ items: z.array(platformTenantSchema), nextCursor: z.string().nullable() })
  .meta({ id: "PlatformTenantPage" });

export const listTenantsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional().describe("nextCursor of the previous page"),
});

export const tenantParams = z.strictObject({ id: z.uuid() });
export const setStatusBody = z.strictObject({ status: z.enum(["active", "suspended"]) });

export type PlatformTenant = z.infer<typeof platformTenantSchema>;
