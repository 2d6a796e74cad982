import { z } from "zod";
import { TENANT_PLANS } from "../../core/database/index.js";
import { displayName } from "../../core/http/text.js";

export const tenantSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    slug: z.string(),
    plan: z.enum(TENANT_PLANS),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: "Tenant" });

export type TenantResponse = z.infer<typeof tenantSchema>;

/** A tenant's display name, wherever one is given (creation, rename). */
const tenantNameSchema = displayName({ max: 200 });

export const renameTenantBody = z.strictObject({ name: tenantNameSchema.optional() });

export const createTenantBody = z.strictObject({ name: tenantNameSchema });
