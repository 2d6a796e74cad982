import { z } from "zod";
import { OAUTH_PROVIDERS } from "../../config.js";
import type { HeaderDoc, ParameterDoc } from "../../core/http/route-docs.js";

/**
 * Any name passes validation: one that is not configured answers 404, however it is spelt. The
 * document lists the providers the kit supports, not the ones this server configures: a client
 * generated against one deployment then works against another, the list is never empty, and
 * GET /auth/oauth/providers tells the configured ones at run time.
 */
export const providerParams = z.strictObject({
  provider: z
    .string()
    .meta({ enum: [...OAUTH_PROVIDERS] })
    .describe(
      "The provider's name. A provider this server does not configure (see GET /auth/oauth/providers) answers 404.",
    ),
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

/** The cookie that ties an OAuth sign-in or link to the browser that started it. */
export function bindingCookieDocs(
  cookie: { name: string; path: string },
  secure: boolean,
  maxAgeSeconds: number,
): { set: HeaderDoc; parameter: ParameterDoc } {
  return {
    set: {
      component: "SetOAuthBindingCookie",
      name: "Set-Cookie",
      description: `The cookie that ties the attempt to this browser: \`${cookie.name}=<opaque>; HttpOnly; SameSite=Lax; Path=${cookie.path}; Max-Age=${maxAgeSeconds}${secure ? "; Secure" : ""}\`. The callback refuses an attempt without it.`,
      schema: { type: "string" },
    },
    parameter: {
      component: "OAuthBindingCookie",
      in: "cookie",
      name: cookie.name,
      description:
        "The cookie the start of the attempt set, sent back by the browser: without the one the attempt was started with, the callback answers 400.",
      required: false,
      schema: { type: "string" },
    },
  };
}
