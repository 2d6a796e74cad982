import * as oidc from "openid-client";
import type { Config, OAuthProviderName } from "../../config.js";
import type { AuditLog } from "../../core/audit/index.js";
import type { OneTimeStore } from "../../core/cache/index.js";
import { type Database, isUniqueViolation, type UserRow } from "../../core/database/index.js";
import { AppError, conflict, forbidden, notFound } from "../../core/errors/index.js";
import type { Principal } from "../../core/http/access.js";
import { toDisplayName } from "../../core/http/text.js";
import {
  type Client,
  createAccountWithin,
  hashOpaqueToken,
  type OneTimeTokenMailer,
  type SessionOpener,
  type SignedIn,
} from "../auth/index.js";
import { usersSystemRepository } from "../users/index.js";
import { oauthAccountsRepository } from "./oauth-accounts.repository.js";
import type { OAuthAccountRow } from "./oauth-accounts.table.js";
import type { OAuthProvider, ProviderIdentity } from "./providers.js";

/** A sign-in attempt must come back from the provider within this time. */
export const STATE_TTL_SECONDS = 600;

/** What authorize keeps for the callback, under the hash of `state`. */
interface StateRecord {
  readonly provider: OAuthProviderName;
  readonly codeVerifier: string;
  readonly nonce: string | undefined;
  /** Where the browser goes after signing in (already checked against the allow-list). */
  readonly redirectTo: string;
  /** SHA-256 of the browser binding cookie that authorize set. */
  readonly binding: string;
  /**
   * Set when a signed-in user links this provider: who, and the tenant they did it from (null
   * for a user with no active tenant).
   */
  readonly link?: { readonly userId: string; readonly tenantId: string | null };
}

/** The callback's query, as the provider sent it. */
export interface CallbackQuery {
  readonly code?: string | undefined;
  readonly state?: string | undefined;
  readonly error?: string | undefined;
  readonly error_description?: string | undefined;
}

export interface OAuthServiceOptions {
  config: Config;
  database: Database;
  oneTime: OneTimeStore;
  audit: AuditLog;
  opener: SessionOpener;
  /** Mails the verification link to a user created with an address the provider did not vouch for. */
  mailOneTimeToken: OneTimeTokenMailer;
  providers: ReadonlyMap<OAuthProviderName, OAuthProvider>;
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

/** How a provider's identity became a user of the kit. */
type Resolution =
  | { kind: "returning"; user: UserRow; account: OAuthAccountRow }
  | { kind: "linked"; user: UserRow; account: OAuthAccountRow }
  | { kind: "created"; user: UserRow; account: OAuthAccountRow };

export function createOAuthService(options: OAuthServiceOptions) {
  const { config, database, oneTime, audit, opener, mailOneTimeToken, providers } = options;
  const resolveRedirect = createRedirectCheck(config);

  const providerOf = (name: string): OAuthProvider => {
    const provider = providers.get(name as OAuthProviderName);
    if (!provider) throw notFound(`No OAuth provider "${name}" is configured.`);
    return provider;
  };
  const redirectUriOf = (name: string) => `${config.publicUrl}/api/v1/auth/oauth/${name}/callback`;

  /**
   * Finds the user a provider identity belongs to, in one transaction: by the linked account
   * first; else an existing user with the same email, linked only when both sides proved the
   * address (the provider vouches for it, and the user verified it by the mailed link):
   * otherwise linking would hand the account to whoever typed the address in at the provider,
   * or to whoever registered it here first; else a new user with a tenant of their own, as
   * registration makes, when the provider verified the address. The new user's address counts
   * as verified only when the provider vouches for it, the same rule as linking: otherwise (a
   * personal Google account made with a work address) it is unverified, and the verification
   * link is mailed, as at registration.
   */
  async function resolve(name: OAuthProviderName, identity: ProviderIdentity) {
    return database.bypassTenantIsolation("oauth sign-in", async (db): Promise<Resolution> => {
      const accounts = oauthAccountsRepository(db);
      const users = usersSystemRepository(db);
      // The user by email before the account: a first sign-in racing this one commits both
      // together, so once its user is seen here, its account is seen by the next statement too.
      const existing = identity.email ? await users.findByEmail(identity.email) : undefined;
      const known = await accounts.find(name, identity.subject);
      if (known) {
        const user = await users.findById(known.userId);
        if (!user) throw new Error(`oauth account ${known.id} has no user`);
        await accounts.touch(known.id);
        return { kind: "returning", user, account: known };
      }
      const link = (userId: string, email: string) =>
        accounts.insert({ userId, provider: name, providerAccountId: identity.subject, email });

      if (existing && identity.email) {
        if (!identity.emailVerified || !identity.emailVouched) {
          throw conflict(
            `An account with this email exists, and ${name} does not vouch for the address, so it is not linked. Sign in with your password instead.`,
          );
        }
        if (!existing.emailVerifiedAt) {
          throw conflict(
            `An account with this email exists, but its address was never verified. Verify it with the link we emailed (or reset the password), then sign in with ${name} again.`,
          );
        }
        if (!existing.isActive) throw forbidden("This account is deactivated.");
        if ((await accounts.listOf(existing.id)).some((row) => row.provider === name)) {
          throw conflict(
            `The account with this email is already linked to another ${name} account. Sign in with that one, or unlink it first.`,
          );
        }
        return { kind: "linked", user: existing, account: await link(existing.id, identity.email) };
      }

      if (!identity.email || !identity.emailVerified) {
        throw forbidden(
          `${name} did not share a verified email address. Verify your address at ${name}, or register with a password.`,
        );
      }
      const displayName = displayNameOf(identity);
      const { user } = await createAccountWithin(db, {
        email: identity.email,
        name: displayName,
        passwordHash: null,
        emailVerifiedAt: identity.emailVouched ? new Date() : null,
        tenantName: toDisplayName(`${displayName}'s workspace`, 200),
      });
      // In this transaction: a first sign-in that loses a race mails nothing.
      if (!identity.emailVouched) await mailOneTimeToken(db, user, "email-verification");
      return { kind: "created", user, account: await link(user.id, identity.email) };
    });
  }

  /** Keeps a new attempt's secrets under its state; returns the provider's URL. */
  async function begin(
    name: string,
    input: {
      redirectTo: string | undefined;
      binding: string;
      link?: { userId: string; tenantId: string | null };
    },
  ) {
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
  }

  /** Checks the callback against its attempt, and learns from the provider who signed in. */
  async function finishAttempt(
    name: string,
    query: CallbackQuery,
    request: { search: string; binding: string | undefined; fromBrowser: boolean },
  ) {
    const provider = providerOf(name);
    if (!query.state) {
      throw new AppError("bad-request", "The callback carries no state. Start again.");
    }
    // Taken, not read: a state works once, whichever process sees it first.
    const stored = await oneTime.take(stateKey(query.state)).catch((error: unknown) => {
      throw stateStoreDown(error);
    });
    const record = stored ? (JSON.parse(stored) as StateRecord) : undefined;
    if (!record || record.provider !== provider.name) throw new AppError("bad-request", BAD_STATE);
    if (
      request.fromBrowser &&
      (!request.binding || hashOpaqueToken(request.binding) !== record.binding)
    ) {
      throw new AppError(
        "bad-request",
        "This sign-in was started in another browser. Start again from the sign-in page.",
      );
    }
    if (query.error) {
      const reason = query.error_description ? `: ${query.error_description.slice(0, 300)}` : "";
      const detail =
        query.error === "access_denied"
          ? `The sign-in was cancelled or refused at ${name} (access_denied)${reason}.`
          : `${name} answered with the error "${query.error.slice(0, 100)}"${reason}.`;
      throw new AppError("bad-request", detail);
    }
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
    return { provider, record, identity };
  }

  /** Signs in the user the identity belongs to, linking or creating one as `resolve` decides. */
  async function signIn(
    name: OAuthProviderName,
    identity: ProviderIdentity,
    client: Client,
  ): Promise<SignedIn> {
    let resolution: Resolution;
    try {
      resolution = await resolve(name, identity);
    } catch (error) {
      // Two first sign-ins of one person at once: the loser finds what the winner made.
      if (!isUniqueViolation(error)) throw error;
      resolution = await resolve(name, identity);
    }
    const { user, account } = resolution;
    if (!user.isActive) throw forbidden("This account is deactivated.");

    const signedIn = await opener.signIn(user, client, { method: "oauth", provider: name });
    // A user with no active tenant has no audit log to record the link in.
    if (resolution.kind !== "returning" && signedIn.response.tenant) {
      await audit.record({
        tenantId: signedIn.response.tenant.id,
        actorId: user.id,
        action: "oauth.account_linked",
        resourceType: "oauth_account",
        resourceId: account.id,
        metadata: { provider: name, newUser: resolution.kind === "created" },
      });
    }
    return signedIn;
  }

  /**
   * Links the identity to the signed-in user who asked for it, whatever its email: they proved
   * who they are by their session, the provider proved the account. Refused when the provider
   * account belongs to someone else, or another account of that provider is linked already.
   */
  async function linkExplicitly(
    name: OAuthProviderName,
    identity: ProviderIdentity,
    link: { userId: string; tenantId: string | null },
  ) {
    const { account, created } = await database.bypassTenantIsolation("oauth link", async (db) => {
      const user = await usersSystemRepository(db).lockById(link.userId);
      if (!user?.isActive) throw forbidden("This account is deactivated.");
      const accounts = oauthAccountsRepository(db);
      const known = await accounts.find(name, identity.subject);
      if (known && known.userId !== link.userId) {
        throw conflict(`This ${name} account is linked to another user.`);
      }
      if (known) {
        await accounts.touch(known.id);
        return { account: known, created: false };
      }
      if ((await accounts.listOf(link.userId)).some((row) => row.provider === name)) {
        throw conflict(`Another ${name} account is linked already; unlink it first.`);
      }
      const inserted = await accounts.insert({
        userId: link.userId,
        provider: name,
        providerAccountId: identity.subject,
        email: identity.email ?? null,
      });
      return { account: inserted, created: true };
    });
    if (created && link.tenantId) {
      await audit.record({
        tenantId: link.tenantId,
        actorId: link.userId,
        action: "oauth.account_linked",
        resourceType: "oauth_account",
        resourceId: account.id,
        metadata: { provider: name, newUser: false, requestedBySignedInUser: true },
      });
    }
    return toLinkedAccount(account);
  }

  return {
    /** The configured providers' names. */
    providerNames(): OAuthProviderName[] {
      return [...providers.keys()];
    },

    /** Starts a sign-in: the provider's URL to send the browser to. */
    authorize(name: string, input: { redirectTo: string | undefined; binding: string }) {
      return begin(name, input);
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
      return begin(name, {
        ...input,
        link: { userId: principal.userId, tenantId: principal.tenantId },
      });
    },

    /**
     * Completes a sign-in, or a link, from the provider's redirect. `binding` is the browser's
     * binding cookie; `fromBrowser` says the request came from a browser (which must then
     * carry the cookie of the browser that started the attempt).
     */
    async callback(
      name: string,
      query: CallbackQuery,
      request: {
        search: string;
        binding: string | undefined;
        fromBrowser: boolean;
        client: Client;
      },
    ): Promise<CallbackOutcome> {
      const { provider, record, identity } = await finishAttempt(name, query, request);
      if (record.link) {
        const account = await linkExplicitly(provider.name, identity, record.link);
        return { kind: "linked", account, redirectTo: record.redirectTo };
      }
      return {
        kind: "signed-in",
        signedIn: await signIn(provider.name, identity, request.client),
        redirectTo: record.redirectTo,
      };
    },

    async listAccounts(principal: Principal) {
      const rows = await database.bypassTenantIsolation("linked accounts", (db) =>
        oauthAccountsRepository(db).listOf(principal.userId),
      );
      return rows.map(toLinkedAccount);
    },

    /** Unlinks a provider, unless it is the user's last way to sign in. */
    async unlink(principal: Principal, provider: string): Promise<void> {
      const removed = await database.bypassTenantIsolation("unlink account", async (db) => {
        // Locked, so two unlinks at once cannot both see "another way is left".
        const user = await usersSystemRepository(db).lockById(principal.userId);
        const accounts = oauthAccountsRepository(db);
        const linked = await accounts.listOf(principal.userId);
        const account = linked.find((row) => row.provider === provider);
        if (!user || !account) throw notFound(`No ${provider} account is linked.`);
        if (!user.passwordHash && linked.length === 1) {
          throw conflict(
            `${provider} is this account's only way to sign in. Set a password (through "forgot password") or link another provider first.`,
          );
        }
        await accounts.remove(principal.userId, provider);
        return account;
      });
      await audit.record({
        action: "oauth.account_unlinked",
        resourceType: "oauth_account",
        resourceId: removed.id,
        metadata: { provider },
      });
    },
  };
}

export type OAuthService = ReturnType<typeof createOAuthService>;

/** A linked account as the API shows it. */
const toLinkedAccount = (row: OAuthAccountRow) => ({
  provider: row.provider,
  email: row.email,
  linkedAt: row.createdAt.toISOString(),
  lastUsedAt: row.lastUsedAt.toISOString(),
});

/** What a callback did: signed someone in, or linked an account to the user who asked. */
export type CallbackOutcome =
  | { kind: "signed-in"; signedIn: SignedIn; redirectTo: string }
  | { kind: "linked"; account: ReturnType<typeof toLinkedAccount>; redirectTo: string };

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

/** The name a new user gets: the provider's display name, else the email's local part. */
/** The provider's name for the person, held to the rules of names typed into the kit. */
function displayNameOf(identity: ProviderIdentity): string {
  return (
    toDisplayName(identity.name ?? "", 200) ||
    toDisplayName(identity.email?.split("@")[0] ?? "", 200) ||
    "New user"
  );
}

const isControlOrBackslash = (character: string) => {
  const code = character.charCodeAt(0);
  return code < 0x20 || code === 0x7f || character === "\\";
};

/**
 * Where a sign-in may send the browser afterwards: a path on the front end (`/projects`), or
 * an absolute URL on the front end's origin or a CORS origin. Anything else would make the
 * kit an open redirector, and is refused with 422.
 */
function createRedirectCheck(config: Config) {
  const frontend = new URL(config.frontendUrl);
  const origins = new Set([
    frontend.origin,
    ...config.corsOrigins.filter((origin) => origin !== "*"),
  ]);
  const refuse = () =>
    new AppError("validation-failed", "redirectTo is not an allowed front-end address.", {
      errors: [
        {
          field: "redirectTo",
          message: "must be a path on the front end or a URL on an allowed origin",
        },
      ],
    });
  return (redirectTo: string | undefined): string => {
    if (redirectTo === undefined || redirectTo === "") return config.frontendUrl;
    // Control characters and backslashes are how browsers are talked into another host.
    if ([...redirectTo].some(isControlOrBackslash)) throw refuse();
    if (redirectTo.startsWith("/")) {
      if (redirectTo.startsWith("//")) throw refuse();
      const url = new URL(`${config.frontendUrl}${redirectTo}`);
      if (url.origin !== frontend.origin) throw refuse();
      return url.href;
    }
    let url: URL;
    try {
      url = new URL(redirectTo);
    } catch {
      throw refuse();
    }
    if (!origins.has(url.origin)) throw refuse();
    return url.href;
  };
}
