import type { OAuthProviderName } from "../../config.js";
import type { AuditLog } from "../../core/audit/index.js";
import { type Database, isUniqueViolation, type UserRow } from "../../core/database/index.js";
import { conflict, forbidden } from "../../core/errors/index.js";
import { toDisplayName } from "../../core/http/text.js";
import type {
  AccountCreator,
  Client,
  OneTimeTokenMailer,
  SessionOpener,
  SignedIn,
} from "../auth/index.js";
import type { UsersService } from "../users/index.js";
import { type OAuthAccountRow, oauthAccountsRepository } from "./oauth-accounts.repository.js";
import type { ProviderIdentity } from "./providers.js";

/** How a provider's identity became a user of the kit. */
type Resolution =
  | { kind: "returning"; user: UserRow; account: OAuthAccountRow }
  | { kind: "linked"; user: UserRow; account: OAuthAccountRow }
  | { kind: "created"; user: UserRow; account: OAuthAccountRow };

/** Signing in with a provider's identity: a returning user, an existing one linked, or a new one. */
export function createOAuthSignIn(options: {
  database: Database;
  audit: AuditLog;
  users: UsersService;
  opener: SessionOpener;
  createAccountWithin: AccountCreator;
  /** Mails the verification link to a user created with an address the provider did not vouch for. */
  mailOneTimeToken: OneTimeTokenMailer;
}) {
  const { database, audit, users, opener, createAccountWithin, mailOneTimeToken } = options;

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
      // The user by email before the account: a first sign-in racing this one commits both
      // together, so once its user is seen here, its account is seen by the next statement too.
      const existing = identity.email ? await users.findByEmail(db, identity.email) : undefined;
      const known = await oauthAccountsRepository.find(db, name, identity.subject);
      if (known) {
        const user = await users.findById(db, known.userId);
        if (!user) throw new Error(`oauth account ${known.id} has no user`);
        await oauthAccountsRepository.touch(db, known.id);
        return { kind: "returning", user, account: known };
      }
      const link = (userId: string, email: string) =>
        oauthAccountsRepository.insert(db, {
          userId,
          provider: name,
          providerAccountId: identity.subject,
          email,
        });

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
        if (
          (await oauthAccountsRepository.listOf(db, existing.id)).some(
            (row) => row.provider === name,
          )
        ) {
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

  /** Signs in the user the identity belongs to, linking or creating one as `resolve` decides. */
  return async function signInWith(
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
  };
}

export type OAuthSignIn = ReturnType<typeof createOAuthSignIn>;

/** The provider's name for the person, held to the rules of names typed into the kit. */
function displayNameOf(identity: ProviderIdentity): string {
  return (
    toDisplayName(identity.name ?? "", 200) ||
    toDisplayName(identity.email?.split("@")[0] ?? "", 200) ||
    "New user"
  );
}
