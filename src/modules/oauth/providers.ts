import * as oidc from "openid-client";
import { z } from "zod";
import type {
  GitHubProviderSettings,
  OAuthProviderName,
  OAuthProviderSettings,
  OidcProviderSettings,
} from "../../config.js";
import { AppError } from "../../core/errors/index.js";

/**
 * The OAuth providers: how to send a user to each one, and how to learn from its answer who
 * signed in. openid-client does the protocol (discovery, PKCE, the code exchange, and the ID
 * token's signature, issuer, audience, nonce and expiry); this file maps each provider's
 * claims onto one shape. Adding a provider is one entry in `PROVIDER_KINDS` below plus its
 * variables in src/config.ts (docs/oauth.md).
 */

/** Who signed in, as the provider says. */
export interface ProviderIdentity {
  /** The provider's stable id of the account. */
  readonly subject: string;
  readonly email: string | undefined;
  /** Whether the provider asserts it verified that the user controls `email`. */
  readonly emailVerified: boolean;
  /**
   * Whether the provider vouches for the address strongly enough to link the identity to an
   * existing account with it: verified, and the provider is the address's authority, not just
   * someone that checked it once.
   */
  readonly emailVouched: boolean;
  readonly name: string | undefined;
}

/** What one sign-in attempt keeps between authorize and callback (in the state record). */
interface AttemptSecrets {
  readonly state: string;
  readonly codeVerifier: string;
  /** OpenID Connect only: the ID token must carry it back. */
  readonly nonce: string | undefined;
}

export interface OAuthProvider {
  readonly name: OAuthProviderName;
  readonly usesNonce: boolean;
  /** Where to send the browser: the provider's authorization endpoint with every parameter. */
  authorizationUrl(secrets: AttemptSecrets, redirectUri: string): Promise<URL>;
  /** Exchanges the code in `callbackUrl` and returns the identity it proves. */
  identify(callbackUrl: URL, secrets: AttemptSecrets): Promise<ProviderIdentity>;
}

interface ProviderOptions {
  readonly timeoutMs: number;
}

/**
 * The claim that says a Microsoft account's email is verified. Entra ID's `email` claim is
 * whatever the directory holds and is not verified by default; `xms_edov` (email domain owner
 * verified, an optional claim to switch on in the app registration) says the tenant owns the
 * address's domain. Without it, a Microsoft sign-in never links to an existing account.
 */
const microsoftEmailVerified = (claims: oidc.IDToken) =>
  claims.email_verified === true ||
  claims.xms_edov === true ||
  claims.xms_edov === "1" ||
  claims.xms_edov === 1;

/**
 * Google verifies every address, but is the authority only for Gmail and for Workspace domains
 * (the `hd` claim): a personal Google account made with a work address stays "verified" after
 * its owner leaves the company. Only those two may link to an existing account.
 */
const googleEmailVouched = (claims: oidc.IDToken) =>
  claims.email_verified === true &&
  (typeof claims.hd === "string" ||
    (typeof claims.email === "string" && claims.email.toLowerCase().endsWith("@gmail.com")));

const PROVIDER_KINDS: Record<
  OAuthProviderName,
  (settings: OAuthProviderSettings, options: ProviderOptions) => OAuthProvider
> = {
  google: (settings, options) =>
    oidcProvider("google", settings as OidcProviderSettings, options, {
      scope: "openid email profile",
      emailVerified: (claims) => claims.email_verified === true,
      emailVouched: googleEmailVouched,
    }),
  microsoft: (settings, options) =>
    oidcProvider("microsoft", settings as OidcProviderSettings, options, {
      scope: "openid email profile",
      emailVerified: microsoftEmailVerified,
      emailVouched: microsoftEmailVerified,
    }),
  github: (settings, options) => githubProvider(settings as GitHubProviderSettings, options),
};

/** The configured providers, by name. */
export function createProviders(
  configured: Readonly<Partial<Record<OAuthProviderName, OAuthProviderSettings>>>,
  options: ProviderOptions,
): ReadonlyMap<OAuthProviderName, OAuthProvider> {
  const providers = new Map<OAuthProviderName, OAuthProvider>();
  for (const [name, settings] of Object.entries(configured) as [
    OAuthProviderName,
    OAuthProviderSettings,
  ][]) {
    providers.set(name, PROVIDER_KINDS[name](settings, options));
  }
  return providers;
}

/** Plain HTTP only where the configuration allows it (development and test: a local server). */
const insecureIfHttp = (url: string) =>
  new URL(url).protocol === "http:" ? [oidc.allowInsecureRequests] : [];

function oidcProvider(
  name: OAuthProviderName,
  settings: OidcProviderSettings,
  options: ProviderOptions,
  claims: {
    scope: string;
    emailVerified: (claims: oidc.IDToken) => boolean;
    emailVouched: (claims: oidc.IDToken) => boolean;
  },
): OAuthProvider {
  let discovered: Promise<oidc.Configuration> | undefined;
  // Discovery runs on first use, not at start-up, so a provider being down never stops the
  // API; a failed discovery is forgotten and tried again by the next sign-in.
  const configuration = () => {
    discovered ??= oidc
      .discovery(new URL(settings.issuer), settings.clientId, settings.clientSecret, undefined, {
        execute: insecureIfHttp(settings.issuer),
        timeout: Math.ceil(options.timeoutMs / 1000),
      })
      .then((config) => {
        // Verify the ID token's signature against the provider's JWKS too, not only trust
        // the TLS connection it came over (which OpenID Connect would allow).
        oidc.enableNonRepudiationChecks(config);
        return config;
      })
      .catch((error: unknown) => {
        discovered = undefined;
        throw discoveryFailure(name, error);
      });
    return discovered;
  };

  return {
    name,
    usesNonce: true,
    async authorizationUrl(secrets, redirectUri) {
      const config = await configuration();
      const codeChallenge = await oidc.calculatePKCECodeChallenge(secrets.codeVerifier);
      try {
        return oidc.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: claims.scope,
          state: secrets.state,
          nonce: secrets.nonce ?? "",
          code_challenge: codeChallenge,
          code_challenge_method: "S256",
        });
      } catch (error) {
        throw discoveryFailure(name, error);
      }
    },
    async identify(callbackUrl, secrets) {
      const config = await configuration();
      const tokens = await oidc
        .authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: secrets.codeVerifier,
          expectedState: secrets.state,
          expectedNonce: secrets.nonce,
          idTokenExpected: true,
        })
        .catch((error: unknown) => {
          throw providerFailure(name, error);
        });
      const idToken = tokens.claims();
      if (!idToken) throw new AppError("bad-gateway", `${name} sent no ID token.`);
      return {
        subject: idToken.sub,
        email: typeof idToken.email === "string" ? idToken.email : undefined,
        emailVerified: claims.emailVerified(idToken),
        emailVouched: claims.emailVouched(idToken),
        name: typeof idToken.name === "string" ? idToken.name : undefined,
      };
    },
  };
}

/** The parts of GitHub's answers the kit reads; anything else in them is ignored. */
const gitHubUserSchema = z.object({
  id: z.number().int(),
  login: z.string(),
  name: z.string().nullish(),
});
const gitHubEmailsSchema = z.array(
  z.object({ email: z.string(), primary: z.boolean(), verified: z.boolean() }),
);

/**
 * GitHub speaks OAuth 2.0 without OpenID Connect: the identity is the user's numeric id from
 * `GET /user`, and the email is the primary address `GET /user/emails` marks verified.
 */
function githubProvider(settings: GitHubProviderSettings, options: ProviderOptions): OAuthProvider {
  const config = new oidc.Configuration(
    {
      issuer: settings.url,
      authorization_endpoint: `${settings.url}/login/oauth/authorize`,
      token_endpoint: `${settings.url}/login/oauth/access_token`,
    },
    settings.clientId,
    settings.clientSecret,
  );
  config.timeout = Math.ceil(options.timeoutMs / 1000);
  for (const allow of insecureIfHttp(settings.url)) allow(config);
  // GitHub answers a refused code with 200 and an error body; RFC 6749 says 400, which is
  // what openid-client recognises as the provider's error.
  config[oidc.customFetch] = async (url, init) => {
    const response = await fetch(url, init);
    if (response.status !== 200) return response;
    const body = (await response
      .clone()
      .json()
      .catch(() => undefined)) as { error?: unknown } | undefined;
    if (typeof body?.error !== "string") return response;
    return new Response(JSON.stringify(body), {
      status: 400,
      headers: { "content-type": "application/json" },
    });
  };

  const api = async <T>(path: string, accessToken: string, schema: z.ZodType<T>): Promise<T> => {
    const response = await fetch(`${settings.apiUrl}${path}`, {
      headers: {
        accept: "application/vnd.github+json",
        authorization: `Bearer ${accessToken}`,
        "user-agent": "agency-saas-kit",
        "x-github-api-version": "2022-11-28",
      },
      signal: AbortSignal.timeout(options.timeoutMs),
    }).catch((error: unknown) => {
      throw providerFailure("github", error);
    });
    if (!response.ok) {
      throw new AppError("bad-gateway", `github answered ${response.status} to GET ${path}.`);
    }
    const parsed = schema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) {
      throw new AppError("bad-gateway", `github sent a malformed answer to GET ${path}.`);
    }
    return parsed.data;
  };

  return {
    name: "github",
    usesNonce: false,
    async authorizationUrl(secrets, redirectUri) {
      return oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: "read:user user:email",
        state: secrets.state,
        code_challenge: await oidc.calculatePKCECodeChallenge(secrets.codeVerifier),
        code_challenge_method: "S256",
        allow_signup: "true",
      });
    },
    async identify(callbackUrl, secrets) {
      const tokens = await oidc
        .authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: secrets.codeVerifier,
          expectedState: secrets.state,
        })
        .catch((error: unknown) => {
          throw providerFailure("github", error);
        });
      const user = await api("/user", tokens.access_token, gitHubUserSchema);
      const emails = await api("/user/emails", tokens.access_token, gitHubEmailsSchema);
      // The primary address only, and only if verified: another verified address of the
      // account is not the one its owner chose to be reached at.
      const primary = emails.find((entry) => entry.primary && entry.verified);
      return {
        subject: String(user.id),
        email: primary?.email,
        emailVerified: primary !== undefined,
        emailVouched: primary !== undefined,
        name: user.name || user.login,
      };
    },
  };
}

/**
 * Discovery that failed: whatever went wrong (unreachable, a document whose issuer is not the
 * configured one, no authorization endpoint), it is the provider's side or the configuration,
 * never the user's request: 502.
 */
function discoveryFailure(provider: string, error: unknown): AppError {
  const failure = providerFailure(provider, error);
  if (failure.code === "bad-gateway") return failure;
  return new AppError(
    "bad-gateway",
    `${provider}'s OpenID Connect configuration is unusable: ${error instanceof Error ? error.message : String(error)}.`,
    { cause: error },
  );
}

/** The token endpoint's words for a code that is wrong, used or expired (GitHub has its own). */
const REFUSED_CODE_ERRORS = new Set(["invalid_grant", "bad_verification_code"]);

/** Checks of the ID token or of the provider's answer that fail because of what was sent. */
const REJECTED_RESPONSE_CODES = new Set([
  "OAUTH_JWT_CLAIM_COMPARISON_FAILED",
  "OAUTH_JWT_TIMESTAMP_CHECK_FAILED",
  "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED",
  "OAUTH_KEY_SELECTION_FAILED",
]);

/**
 * A provider's failure as a problem the client can act on: the provider refused the code
 * (400), its ID token failed a check (400), or it could not be reached or answered nonsense
 * (502). Never a 500: none of these is the kit's bug.
 */
function providerFailure(provider: string, error: unknown): AppError {
  if (error instanceof AppError) return error;
  const failure = (code: "bad-request" | "bad-gateway", detail: string) =>
    new AppError(code, detail, { cause: error });
  if (error instanceof oidc.ResponseBodyError) {
    if (REFUSED_CODE_ERRORS.has(error.error)) {
      return failure(
        "bad-request",
        `${provider} refused the sign-in code (${error.error}): it may be used or expired. Start again.`,
      );
    }
    return failure(
      "bad-gateway",
      `${provider} refused the token request (${error.error}); check the client id and secret.`,
    );
  }
  if (error instanceof oidc.WWWAuthenticateChallengeError) {
    return failure(
      "bad-gateway",
      `${provider} refused the kit's client credentials; check the client id and secret.`,
    );
  }
  if (error instanceof oidc.ClientError && error.code) {
    const cause = error.cause instanceof Error ? error.cause.message : "";
    if (REJECTED_RESPONSE_CODES.has(error.code) || /signature/i.test(cause)) {
      return failure(
        "bad-request",
        `${provider}'s ID token failed validation: ${cause || error.message}.`,
      );
    }
    if (error.code === "OAUTH_TIMEOUT")
      return failure("bad-gateway", `${provider} did not answer in time.`);
    return failure("bad-gateway", `${provider} sent an unusable answer: ${error.message}.`);
  }
  const root = error instanceof oidc.ClientError ? error.cause : error;
  if (root instanceof Error && (root.name === "TimeoutError" || root.name === "AbortError")) {
    return failure("bad-gateway", `${provider} did not answer in time.`);
  }
  return failure("bad-gateway", `${provider} could not be reached.`);
}
