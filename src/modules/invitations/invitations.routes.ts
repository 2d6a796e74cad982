import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { accessOf, principalOf } from "../../core/auth/index.js";
import { signedInTenantOptional } from "../../core/http/access.js";
import { problemResponse } from "../../core/http/route-docs.js";
import { requirePermission } from "../../core/permissions/index.js";
import {
  acceptedInvitationSchema,
  acceptInvitationBody,
  createdInvitationSchema,
  createInvitationBody,
  invitationPageSchema,
  invitationParams,
  listInvitationsQuery,
} from "./invitations.schemas.js";
import type { InvitationsService } from "./invitations.service.js";

export const invitationsRoutes: FastifyPluginAsyncZod<{ invitations: InvitationsService }> = async (
  app,
  { invitations },
) => {
  app.post(
    "/invitations",
    {
      config: { access: requirePermission("members", "invite") },
      schema: {
        operationId: "createInvitation",
        summary: "Invite someone to the tenant",
        description:
          "Mails a link valid 7 days; the answer carries its secret once. Nobody grants roles with permissions they do not hold.",
        tags: ["members"],
        body: createInvitationBody,
        response: {
          201: createdInvitationSchema,
          403: problemResponse(
            "The inviter's email is not verified, a permission the caller's roles lack, a role granting permissions the caller does not hold, or a suspended tenant.",
          ),
          409: problemResponse(
            "The person is already a member, or is being invited at this moment.",
          ),
          429: problemResponse(
            "The caller's hourly or the tenant's daily invitations are used up; retry after `Retry-After` seconds.",
          ),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await invitations.create(request.tenantDb, accessOf(request), request.body)),
  );

  app.get(
    "/invitations",
    {
      config: { access: requirePermission("members", "invite") },
      schema: {
        operationId: "listInvitations",
        summary: "List pending invitations",
        description:
          "Invitations neither accepted, revoked nor expired; their secrets are not shown again.",
        tags: ["members"],
        querystring: listInvitationsQuery,
        response: { 200: invitationPageSchema },
      },
    },
    async (request) =>
      invitations.listPending(request.tenantDb, request.query.limit, request.query.cursor),
  );

  app.delete(
    "/invitations/:id",
    {
      config: { access: requirePermission("members", "invite") },
      schema: {
        operationId: "revokeInvitation",
        summary: "Revoke a pending invitation",
        description: "Its link stops working at once.",
        tags: ["members"],
        params: invitationParams,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await invitations.revoke(request.tenantDb, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/invitations/accept",
    {
      config: { access: signedInTenantOptional },
      schema: {
        operationId: "acceptInvitation",
        summary: "Accept an invitation",
        description:
          "For a signed-in user whose verified email is the invitation's. The user can then switch to the tenant.",
        tags: ["members"],
        body: acceptInvitationBody,
        response: {
          200: acceptedInvitationSchema,
          400: problemResponse(
            "The invitation is invalid, used, revoked or expired, or the body is not valid JSON.",
          ),
          403: problemResponse(
            "The user's email is not verified or is not the invitation's, the inviter may no longer grant these roles, or the tenant is suspended.",
          ),
          404: problemResponse("The invitation's tenant no longer exists."),
          409: problemResponse("The user is already a member of the tenant."),
        },
      },
    },
    async (request) => invitations.accept(principalOf(request), request.body.token),
  );
};
