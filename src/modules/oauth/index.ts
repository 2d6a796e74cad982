import type { AppModule } from "../../core/http/module.js";
import { createOneTimeTokenMailer, createSessionOpener } from "../auth/index.js";
import { oauthRoutes } from "./oauth.routes.js";
import { createOAuthService } from "./oauth.service.js";
import { createProviders } from "./providers.js";

/**
 * OAuth sign-in (Google and Microsoft through OpenID Connect, GitHub through OAuth 2.0) under
 * /auth/oauth, and the signed-in user's linked accounts under /users/me/accounts.
 */
export const oauthModule: AppModule = async (app, dependencies) => {
  const { config } = dependencies;
  const oauth = createOAuthService({
    ...dependencies,
    opener: createSessionOpener(dependencies),
    mailOneTimeToken: createOneTimeTokenMailer(dependencies),
    providers: createProviders(config.oauth.providers, { timeoutMs: config.oauth.timeoutMs }),
  });
  await app.register(oauthRoutes, { oauth, config });
};
