import { z } from "zod";

export const permissionCatalogSchema = z
  .object({
    items: z.array(z.object({ permission: z.string(), description: z.string() })),
  })
  .meta({ id: "PermissionCatalog" });
