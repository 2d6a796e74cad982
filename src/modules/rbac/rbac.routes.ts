import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { signedIn } from "../../core/http/access.js";
import { PERMISSIONS } from "../../core/permissions/index.js";
import { permissionCatalogSchema } from "./rbac.schemas.js";

const catalog = {
  items: Object.entries(PERMISSIONS).map(([permission, description]) => ({
    permission,
    description,
  })),
};

export const rbacRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    "/permissions",
    {
      config: { access: signedIn },
      schema: {
        summary: "List the permission catalog",
        description: "Every permission a role may grant, with what it allows.",
        tags: ["roles"],
        response: { 200: permissionCatalogSchema },
      },
    },
    async () => catalog,
  );
};
