import type { Principal } from "../../core/http/access.js";
import type { Client, SignedIn } from "../auth/index.js";
import type { AccountLinks, LinkedAccount } from "./account-links.js";
import type { CallbackQuery, CallbackRequest, OAuthAttempts } from "./oauth-attempts.js";
import type { OAuthSignIn } from "./oauth-sign-in.js";

/** What a callback did: signed someone in, or linked an account to the user who asked. */
type CallbackOutcome =
  | { kind: "signed-in"; signedIn: SignedIn; redirectTo: string }
  | { kind: "linked"; account: LinkedAccount; redirectTo: string };

/**
 * The OAuth flows from start to callback: a sign-in, or a signed-in user linking a provider
 * account. Both make the same round trip to the provider (`attempts`); the callback then signs
 * in (`signInWith`) or links (`links`), as the start asked.
 */
export function createOAuthService(options: {
  attempts: OAuthAttempts;
  signInWith: OAuthSignIn;
  links: AccountLinks;
}) {
  const { attempts, signInWith, links } = options;
  return {
    providerNames: attempts.providerNames,

    /** Starts a sign-in: the provider's URL to send the browser to. */
    authorize(name: string, input: { redirectTo: string | undefined; binding: string }) {
      return attempts.begin(name, input);
    },

    /**
     * Starts linking a provider account to the signed-in user, whatever its email: the
     * provider's URL for the front end to send the browser to. The callback then links instead
     * of signing in.
     */
    startLink(
      principal: Principal,
      name: string,
      input: { redirectTo: string | undefined; binding: string },
    ) {
      return attempts.begin(name, {
        ...input,
        link: { userId: principal.userId, tenantId: principal.tenantId },
      });
    },

    /** Completes a sign-in, or a link, from the provider's redirect. */
    async callback(
      name: string,
      query: CallbackQuery,
      request: CallbackRequest & { client: Client },
    ): Promise<CallbackOutcome> {
      const { provider, record, identity } = await attempts.finish(name, query, request);
      if (record.link) {
        const account = await links.link(provider, identity, record.link);
        return { kind: "linked", account, redirectTo: record.redirectTo };
      }
      return {
        kind: "signed-in",
        signedIn: await signInWith(provider, identity, request.client),
        redirectTo: record.redirectTo,
      };
    },
  };
}

export type OAuthService = ReturnType<typeof createOAuthService>;
