import type { OAuthProviderName } from "../../config.js";
import type { AuditLog } from "../../core/audit/index.js";
import type { Database } from "../../core/database/index.js";
import { conflict, forbidden, notFound } from "../../core/errors/index.js";
import type { Principal } from "../../core/http/access.js";
import type { UsersService } from "../users/index.js";
import { type OAuthAccountRow, oauthAccountsRepository } from "./oauth-accounts.repository.js";
import type { AccountLinkRequest } from "./oauth-attempts.js";
import type { ProviderIdentity } from "./providers.js";

/** A linked account as the API shows it. */
const toLinkedAccount = (row: OAuthAccountRow) => ({
  provider: row.provider,
  email: row.email,
  linkedAt: row.createdAt.toISOString(),
  lastUsedAt: row.lastUsedAt.toISOString(),
});

export type LinkedAccount = ReturnType<typeof toLinkedAccount>;

/** The signed-in user's linked provider accounts: linking one on purpose, listing, unlinking. */
export function createAccountLinks(options: {
  database: Database;
  audit: AuditLog;
  users: UsersService;
}) {
  const { database, audit, users } = options;
  return {
    /**
     * Links the identity to the signed-in user who asked for it, whatever its email: they
     * proved who they are by their session, the provider proved the account. Refused when the
     * provider account belongs to someone else, or another account of that provider is linked
     * already.
     */
    async link(
      name: OAuthProviderName,
      identity: ProviderIdentity,
      request: AccountLinkRequest,
    ): Promise<LinkedAccount> {
      const { account, created } = await database.bypassTenantIsolation(
        "oauth link",
        async (db) => {
          const user = await users.lockById(db, request.userId);
          if (!user?.isActive) throw forbidden("This account is deactivated.");
          const known = await oauthAccountsRepository.find(db, name, identity.subject);
          if (known && known.userId !== request.userId) {
            throw conflict(`This ${name} account is linked to another user.`);
          }
          if (known) {
            await oauthAccountsRepository.touch(db, known.id);
            return { account: known, created: false };
          }
          if (
            (await oauthAccountsRepository.listOf(db, request.userId)).some(
              (row) => row.provider === name,
            )
          ) {
            throw conflict(`Another ${name} account is linked already; unlink it first.`);
          }
          const inserted = await oauthAccountsRepository.insert(db, {
            userId: request.userId,
            provider: name,
            providerAccountId: identity.subject,
            email: identity.email ?? null,
          });
          return { account: inserted, created: true };
        },
      );
      if (created && request.tenantId) {
        await audit.record({
          tenantId: request.tenantId,
          actorId: request.userId,
          action: "oauth.account_linked",
          resourceType: "oauth_account",
          resourceId: account.id,
          metadata: { provider: name, newUser: false, requestedBySignedInUser: true },
        });
      }
      return toLinkedAccount(account);
    },

    async list(principal: Principal): Promise<LinkedAccount[]> {
      const rows = await database.bypassTenantIsolation("linked accounts", (db) =>
        oauthAccountsRepository.listOf(db, principal.userId),
      );
      return rows.map(toLinkedAccount);
    },

    /** Unlinks a provider, unless it is the user's last way to sign in. */
    async unlink(principal: Principal, provider: string): Promise<void> {
      const removed = await database.bypassTenantIsolation("unlink account", async (db) => {
        // Locked, so two unlinks at once cannot both see "another way is left".
        const user = await users.lockById(db, principal.userId);
        const linked = await oauthAccountsRepository.listOf(db, principal.userId);
        const account = linked.find((row) => row.provider === provider);
        if (!user || !account) throw notFound(`No ${provider} account is linked.`);
        if (!user.passwordHash && linked.length === 1) {
          throw conflict(
            `${provider} is this account's only way to sign in. Set a password (through "forgot password") or link another provider first.`,
          );
        }
        await oauthAccountsRepository.remove(db, principal.userId, provider);
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

export type AccountLinks = ReturnType<typeof createAccountLinks>;
