import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { accessOf, principalOf } from "../../core/auth/index.js";
import { signedInTenantOptional } from "../../core/http/access.js";
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
        summary: "Invite someone to the tenant",
        description:
          "Mails a link valid 7 days; the answer carries its secret once. Nobody grants roles with permissions they do not hold.",
        tags: ["members"],
        body: createInvitationBody,
        response: { 201: createdInvitationSchema },
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
        summary: "List pending invitations",
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
        summary: "Revoke a pending invitation",
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
        summary: "Accept an invitation",
        description:
          "For a signed-in user whose verified email is the invitation's. The user can then switch to the tenant.",
        tags: ["members"],
        body: acceptInvitationBody,
        response: { 200: acceptedInvitationSchema },
      },
    },
    async (request) => invitations.accept(principalOf(request), request.body.token),
  );
};
