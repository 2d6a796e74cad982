import { z } from "zod";
import { pageQueryFields, pageSchemaOf } from "../../core/http/cursor.js";

const roleRef = z.object({ id: z.uuid(), name: z.string() });

const invitationSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    roles: z.array(roleRef),
    expiresAt: z.iso.datetime(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: "Invitation" });

export const createdInvitationSchema = invitationSchema
  .extend({ token: z.string().describe("the shareable link's secret; shown once, also mailed") })
  .meta({ id: "CreatedInvitation" });

export const invitationPageSchema = pageSchemaOf(invitationSchema).meta({
  id: "InvitationPage",
});

export const createInvitationBody = z.strictObject({
  email: z
    .string()
    .trim()
    .max(320, "must be at most 320 characters")
    .meta({ format: "email" })
    .pipe(z.email("must be an email address")),
  roleIds: z
    .array(z.uuid())
    .min(1, "must name at least one role")
    .max(20, "must name at most 20 roles")
    .transform((values) => [...new Set(values)]),
});

export const acceptInvitationBody = z.strictObject({ token: z.string().min(1).max(256) });

export const acceptedInvitationSchema = z
  .object({
    tenant: z.object({ id: z.uuid(), name: z.string(), slug: z.string() }),
    roles: z.array(roleRef),
  })
  .meta({ id: "AcceptedInvitation" });

export const invitationParams = z.strictObject({ id: z.uuid() });

export const listInvitationsQuery = z.strictObject(pageQueryFields);

export type InvitationResponse = z.infer<typeof invitationSchema>;
