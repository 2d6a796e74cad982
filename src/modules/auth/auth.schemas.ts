import { z } from "zod";
import { displayName } from "../../core/http/text.js";
import { userNameSchema, userSchema } from "../users/index.js";
import { newPassword } from "./passwords.js";

const email = z
  .string()
  .trim()
  .max(320, "must be at most 320 characters")
  .pipe(z.email("must be an email address"));

/** What a client types at sign-in: checked for size only, so nothing tells the rules apart. */
const anyPassword = z.string().min(1, "must not be empty").max(1024, "is too long");

const tenantSummary = z.object({ id: z.uuid(), name: z.string(), slug: z.string() });

/** The token's tenant; null for a user with no active tenant (a token only some routes accept). */
const activeTenant = tenantSummary
  .nullable()
  .describe(
    "The tenant the access token acts in; null when the user has no active tenant: create one (POST /tenants) or accept an invitation, then switch to it.",
  );

export const registerBody = z.strictObject({
  email,
  password: newPassword,
  name: userNameSchema,
  /** The new tenant's name: the same rules as tenants' own (tenantNameSchema). */
  tenantName: displayName({ max: 200 }),
});

export const loginBody = z.strictObject({
  email,
  password: anyPassword,
  tenantId: z.uuid().optional(),
});

export const switchTenantBody = z.strictObject({ tenantId: z.uuid() });
export const forgotPasswordBody = z.strictObject({ email });
export const resetPasswordBody = z.strictObject({
  token: z.string().min(1).max(256),
  password: newPassword,
});
export const changePasswordBody = z.strictObject({
  currentPassword: anyPassword,
  newPassword,
});
export const verifyEmailBody = z.strictObject({ token: z.string().min(1).max(256) });

export const tokenResponseSchema = z
  .object({
    accessToken: z.string(),
    tokenType: z.literal("Bearer"),
    expiresIn: z.number().int(),
    user: z.object({
      id: z.uuid(),
      email: z.string(),
      name: z.string(),
      emailVerified: z.boolean(),
    }),
    tenant: activeTenant,
  })
  .meta({ id: "TokenResponse" });

export type TokenResponse = z.infer<typeof tokenResponseSchema>;

export const meResponseSchema = z
  .object({
    user: userSchema,
    tenant: activeTenant,
    roles: z.array(z.string()),
    permissions: z.array(z.string()),
    memberships: z.array(z.object({ tenant: tenantSummary, roles: z.array(z.string()) })),
  })
  .meta({ id: "CurrentUser" });

export type MeResponse = z.infer<typeof meResponseSchema>;
