import { z } from "zod";
import { OAUTH_PROVIDERS } from "../../config.js";

/** Any name: one that is not configured answers 404, however it is spelt. */
export const providerParams = z.strictObject({
  provider: z.string().describe("The provider's name: `google`, `microsoft` or `github`"),
});

export const providersResponseSchema = z
  .object({
    providers: z.array(z.object({ name: z.enum(OAUTH_PROVIDERS) })),
  })
  .meta({ id: "OAuthProviders" });

const redirectTo = z
  .string()
  .max(2048)
  .optional()
  .describe(
    "Where the browser goes afterwards: a path on the front end (`/projects`), or a URL on FRONTEND_URL's origin or a CORS origin. Default: FRONTEND_URL.",
  );

export const authorizeQuery = z.strictObject({ redirectTo });

export const linkBody = z.strictObject({ redirectTo });

export const linkStartSchema = z
  .object({
    authorizeUrl: z.url().describe("Send the browser here (a navigation, not a fetch)"),
  })
  .meta({ id: "OAuthLinkStart" });

/** Loose: providers add their own parameters (`iss`, `scope`, `session_state`, ...). */
export const callbackQuery = z.looseObject({
  code: z.string().max(4096).optional(),
  state: z.string().max(512).optional(),
  error: z.string().max(200).optional(),
  error_description: z.string().max(2000).optional(),
});

export const linkedAccountSchema = z
  .object({
    provider: z.string(),
    email: z.string().nullable().describe("The address the provider gave when it was linked"),
    linkedAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime(),
  })
  .meta({ id: "LinkedAccount" });

export const linkedAccountsResponseSchema = z.object({ items: z.array(linkedAccountSchema) });
