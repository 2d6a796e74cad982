import type { AppModule } from "../../core/http/module.js";
import { createSignInSteps } from "../auth/index.js";
import { createAccountLinks } from "./account-links.js";
import { oauthRoutes } from "./oauth.routes.js";
import { createOAuthService } from "./oauth.service.js";
import { createOAuthAttempts } from "./oauth-attempts.js";
import { createOAuthSignIn } from "./oauth-sign-in.js";
import { createProviders } from "./providers.js";

/**
 * OAuth sign-in (Google and Microsoft through OpenID Connect, GitHub through OAuth 2.0) under
 * /auth/oauth, and the signed-in user's linked accounts under /users/me/accounts.
 */
export const oauthModule: AppModule = async (app, dependencies) => {
  const { config } = dependencies;
  const steps = createSignInSteps(dependencies);
  const links = createAccountLinks({ ...dependencies, users: steps.users });
  const oauth = createOAuthService({
    attempts: createOAuthAttempts({
      ...dependencies,
      providers: createProviders(config.oauth.providers, { timeoutMs: config.oauth.timeoutMs }),
    }),
    signInWith: createOAuthSignIn({ ...dependencies, ...steps }),
    links,
  });
  await app.register(oauthRoutes, { oauth, links, config });
};
