import * as oidc from "openid-client";
import type { Config, OAuthProviderName } from "../../config.js";
import type { OneTimeStore } from "../../core/cache/index.js";
import { AppError, notFound } from "../../core/errors/index.js";
import { hashOpaqueToken } from "../auth/index.js";
import type { OAuthProvider, ProviderIdentity } from "./providers.js";
import { createRedirectCheck } from "./redirects.js";

/** A sign-in attempt must come back from the provider within this time. */
export const STATE_TTL_SECONDS = 600;

/** What an attempt's start keeps for its callback, under the hash of `state`. */
interface StateRecord {
  readonly provider: OAuthProviderName;
  readonly codeVerifier: string;
  readonly nonce: string | undefined;
  /** Where the browser goes after signing in (already checked against the allow-list). */
  readonly redirectTo: string;
  /** SHA-256 of the browser binding cookie that the start set. */
  readonly binding: string;
  /**
   * Set when a signed-in user links this provider: who, and the tenant they did it from (null
   * for a user with no active tenant).
   */
  readonly link?: AccountLinkRequest;
}

/** A signed-in user asking to link a provider account: who, and from which tenant (or none). */
export interface AccountLinkRequest {
  readonly userId: string;
  readonly tenantId: string | null;
}

/** The callback's query, as the provider sent it. */
export interface CallbackQuery {
  readonly code?: string | undefined;
  readonly state?: string | undefined;
  readonly error?: string | undefined;
  readonly error_description?: string | undefined;
}

/** The callback request, as far as checking it against its attempt goes. */
export interface CallbackRequest {
  /** The query string as received, `?` included: the code exchange checks it as sent. */
  readonly search: string;
  /** The browser's binding cookie. */
  readonly binding: string | undefined;
  /** A browser must carry the binding cookie of the browser that started the attempt. */
  readonly fromBrowser: boolean;
}

const stateKey = (state: string) => `oauth-state:${hashOpaqueToken(state)}`;

/** The state store (Redis) failed: the sign-in cannot be started or checked just now. */
const stateStoreDown = (cause: unknown) =>
  new AppError(
    "service-unavailable",
    "Signing in with a provider is unavailable for a moment; try again shortly.",
    { cause, headers: { "retry-after": "5" } },
  );

const BAD_STATE =
  "This sign-in attempt is unknown, expired or already used. Start again from the sign-in page.";

/**
 * The provider round trip, the same for a sign-in and a link: the start keeps the attempt's
 * secrets (state, PKCE verifier, nonce) in the one-time store and answers the provider's URL;
 * the callback takes them back once, checks the browser and the provider's answer, and learns
 * from the provider who signed in.
 */
export function createOAuthAttempts(options: {
  config: Config;
  oneTime: OneTimeStore;
  providers: ReadonlyMap<OAuthProviderName, OAuthProvider>;
}) {
  const { config, oneTime, providers } = options;
  const resolveRedirect = createRedirectCheck(config);
  const providerOf = (name: string): OAuthProvider => {
    const provider = providers.get(name as OAuthProviderName);
    if (!provider) throw notFound(`No OAuth provider "${name}" is configured.`);
    return provider;
  };
  const redirectUriOf = (name: string) => `${config.publicUrl}/api/v1/auth/oauth/${name}/callback`;

  return {
    /** The configured providers' names. */
    providerNames(): OAuthProviderName[] {
      return [...providers.keys()];
    },

    /** Keeps a new attempt's secrets under its state; returns the provider's URL. */
    async begin(
      name: string,
      input: { redirectTo: string | undefined; binding: string; link?: AccountLinkRequest },
    ): Promise<URL> {
      const provider = providerOf(name);
      const redirectTo = resolveRedirect(input.redirectTo);
      const state = oidc.randomState();
      const secrets = {
        state,
        codeVerifier: oidc.randomPKCECodeVerifier(),
        nonce: provider.usesNonce ? oidc.randomNonce() : undefined,
      };
      // The URL first: a provider that cannot be discovered leaves nothing behind.
      const url = await provider.authorizationUrl(secrets, redirectUriOf(name));
      const record: StateRecord = {
        provider: provider.name,
        codeVerifier: secrets.codeVerifier,
        nonce: secrets.nonce,
        redirectTo,
        binding: hashOpaqueToken(input.binding),
        ...(input.link ? { link: input.link } : {}),
      };
      await oneTime
        .put(stateKey(state), JSON.stringify(record), STATE_TTL_SECONDS)
        .catch((error: unknown) => {
          throw stateStoreDown(error);
        });
      return url;
    },

    /** Checks the callback against its attempt, and learns from the provider who signed in. */
    async finish(name: string, query: CallbackQuery, request: CallbackRequest) {
      const provider = providerOf(name);
      if (!query.state) {
        throw new AppError("bad-request", "The callback carries no state. Start again.");
      }
      // Taken, not read: a state works once, whichever process sees it first.
      const stored = await oneTime.take(stateKey(query.state)).catch((error: unknown) => {
        throw stateStoreDown(error);
      });
      const record = stored ? (JSON.parse(stored) as StateRecord) : undefined;
      if (!record || record.provider !== provider.name) {
        throw new AppError("bad-request", BAD_STATE);
      }
      if (
        request.fromBrowser &&
        (!request.binding || hashOpaqueToken(request.binding) !== record.binding)
      ) {
        throw new AppError(
          "bad-request",
          "This sign-in was started in another browser. Start again from the sign-in page.",
        );
      }
      if (query.error) throw providerRefusal(name, query.error, query.error_description);
      if (!query.code) throw new AppError("bad-request", "The callback carries no code.");

      const callbackUrl = new URL(`${redirectUriOf(name)}${request.search}`);
      const identity = usableIdentity(
        name,
        await provider.identify(callbackUrl, {
          state: query.state,
          codeVerifier: record.codeVerifier,
          nonce: record.nonce,
        }),
      );
      return { provider: provider.name, record, identity };
    },
  };
}

export type OAuthAttempts = ReturnType<typeof createOAuthAttempts>;

/** The provider's own error in the callback, said in the answer (cut to a sane length). */
function providerRefusal(name: string, error: string, description: string | undefined) {
  const reason = description ? `: ${description.slice(0, 300)}` : "";
  const detail =
    error === "access_denied"
      ? `The sign-in was cancelled or refused at ${name} (access_denied)${reason}.`
      : `${name} answered with the error "${error.slice(0, 100)}"${reason}.`;
  return new AppError("bad-request", detail);
}

/**
 * The identity as the kit can store it: a subject that fits its column (else the provider's
 * answer is unusable: 502), and an email only if it looks like one and fits.
 */
function usableIdentity(provider: string, identity: ProviderIdentity): ProviderIdentity {
  if (identity.subject.length === 0 || identity.subject.length > 255) {
    throw new AppError("bad-gateway", `${provider} sent an account id the kit cannot use.`);
  }
  const email = identity.email?.trim();
  const usable = email && email.length <= 320 && /^[^\s@]+@[^\s@]+$/.test(email);
  return usable ? { ...identity, email } : { ...identity, email: undefined, emailVerified: false };
}
