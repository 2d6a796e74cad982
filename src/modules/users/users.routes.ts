import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { signedIn } from "../../core/http/access.js";
import { updateMeBody, userSchema } from "./users.schemas.js";
import { usersService } from "./users.service.js";

export const usersRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    "/users/me",
    {
      config: { access: signedIn },
      schema: {
        summary: "Get the signed-in user",
        tags: ["users"],
        response: { 200: userSchema },
      },
    },
    async (request) => usersService(request.tenantDb).me(),
  );

  app.patch(
    "/users/me",
    {
      config: { access: signedIn },
      schema: {
        summary: "Update the signed-in user",
        tags: ["users"],
        body: updateMeBody,
        response: { 200: userSchema },
      },
    },
    async (request) => usersService(request.tenantDb).update(request.body),
  );
};
