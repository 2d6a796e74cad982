import { z } from "zod";
import type { HeaderDoc, ParameterDoc } from "../../core/http/route-docs.js";
import { displayName } from "../../core/http/text.js";
import { userNameSchema, userSchema } from "../users/index.js";
import { REFRESH_COOKIE, REFRESH_TOKEN_TTL_SECONDS } from "./cookies.js";
import { newPassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "./passwords.js";

/** Trimmed, then checked; documented with its format, which the check after the trim applies. */
const email = z
  .string()
  .trim()
  .max(320, "must be at most 320 characters")
  .meta({ format: "email" })
  .pipe(z.email("must be an email address"));

/**
 * A password being chosen. Its lengths are counted in code points of the NFC form, which is
 * what JSON Schema's `minLength` and `maxLength` count (the schema's own limit on the raw
 * string is only a guard against huge inputs).
 */
const chosenPassword = newPassword.meta({
  minLength: PASSWORD_MIN_LENGTH,
  maxLength: PASSWORD_MAX_LENGTH,
  description: `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters, counted after NFC normalisation; no composition rules. A common or easily guessed password (judged with the account's own name, email and tenant) answers 422 saying why.`,
});

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
  password: chosenPassword,
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
  password: chosenPassword,
});
export const changePasswordBody = z.strictObject({
  currentPassword: anyPassword,
  newPassword: chosenPassword,
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

/** The refresh-token cookie a sign-in sets (cookies.ts). */
export const refreshCookieSet: HeaderDoc = {
  component: "SetRefreshCookie",
  name: "Set-Cookie",
  description: `The refresh-token cookie: \`${REFRESH_COOKIE}=<opaque>; HttpOnly; SameSite=Strict; Path=/api/v1/auth; Max-Age=${REFRESH_TOKEN_TTL_SECONDS}\`, plus \`Secure\` outside development and test. The browser sends it back to refresh and logout by itself.`,
  schema: { type: "string" },
};

/** The same cookie, expired: after logout, and after a refresh that failed. */
export const refreshCookieCleared: HeaderDoc = {
  component: "ClearRefreshCookie",
  name: "Set-Cookie",
  description: `Clears the refresh-token cookie: \`${REFRESH_COOKIE}=; Max-Age=0; Path=/api/v1/auth; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict\`, plus \`Secure\` outside development and test.`,
  schema: { type: "string" },
};

/** The refresh-token cookie as the routes that read it receive it. */
export const refreshCookieParameter: ParameterDoc = {
  component: "RefreshTokenCookie",
  in: "cookie",
  name: REFRESH_COOKIE,
  description:
    "The refresh-token cookie (the `refreshCookie` security scheme), which the browser sends by itself: it is HttpOnly, so scripts neither read nor set it; send the request with credentials. Refresh answers 401 without it; logout ends its session when it is sent; switch-tenant rotates it when it belongs to the bearer token's session.",
  required: false,
  schema: { type: "string" },
};

/**
 * The proof refresh and logout need to act on the cookie (createCsrfCheck in cookies.ts): an
 * Origin, else a Referer, of the application, or, without either, this header.
 */
export const requestedWithParameter: ParameterDoc = {
  component: "XRequestedWith",
  in: "header",
  name: "X-Requested-With",
  description:
    "Any value (`XMLHttpRequest`, `fetch`). A request acting on the refresh cookie must come from the application: its `Origin` (or, when the browser sends none, its `Referer`) must be PUBLIC_URL's origin or one of CORS_ORIGINS; a request with neither header must carry this one, which a cross-site form cannot send. Otherwise the answer is 403. Browsers send `Origin` on these POST requests, so a browser client needs this header only where its requests carry no `Origin`.",
  required: false,
  schema: { type: "string" },
};
