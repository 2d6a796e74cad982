import type { FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { principalOf } from "../../core/auth/index.js";
import { signedInTenantOptional } from "../../core/http/access.js";
import { updateMeBody, userSchema } from "./users.schemas.js";
import type { OwnAccount, UsersService } from "./users.service.js";

export const usersRoutes: FastifyPluginAsyncZod<{ users: UsersService }> = async (
  app,
  { users },
) => {
  /** Through the tenant scope, or by user id for a caller with no active tenant. */
  const accountOf = (request: FastifyRequest): OwnAccount => {
    const principal = principalOf(request);
    return principal.tenantId === null
      ? { userId: principal.userId }
      : { tenantDb: request.tenantDb };
  };

  app.get(
    "/users/me",
    {
      config: { access: signedInTenantOptional },
      schema: {
        operationId: "getProfile",
        summary: "Get the signed-in user",
        description: "The caller's own account.",
        tags: ["users"],
        response: { 200: userSchema },
      },
    },
    async (request) => users.me(accountOf(request)),
  );

  app.patch(
    "/users/me",
    {
      config: { access: signedInTenantOptional },
      schema: {
        operationId: "updateProfile",
        summary: "Update the signed-in user",
        description: "Changes only the fields sent.",
        tags: ["users"],
        body: updateMeBody,
        response: { 200: userSchema },
      },
    },
    async (request) => users.update(accountOf(request), request.body),
  );
};
