import type { Database } from "../../core/database/index.js";
import { AppError } from "../../core/errors/index.js";
import type { Principal } from "../../core/http/access.js";
import type { UsersService } from "../users/index.js";
import type { AccountAudit } from "./account-audit.js";
import type { OneTimeTokenMailer } from "./mailed-tokens.js";
import { oneTimeTokensRepository } from "./one-time-tokens.repository.js";
import { hashOpaqueToken, OPAQUE_TOKEN_PATTERN } from "./opaque-tokens.js";

/**
 * Proving the account's address with a mailed link. The first link is mailed at registration
 * (or at a first OAuth sign-in with an address the provider did not vouch for).
 */
export function createEmailVerificationService(options: {
  database: Database;
  users: UsersService;
  mailOneTimeToken: OneTimeTokenMailer;
  recordForAccount: AccountAudit;
}) {
  const { database, users, mailOneTimeToken, recordForAccount } = options;
  return {
    /** Marks the address verified, if the link was mailed to the user's current address. */
    async verifyEmail(token: string): Promise<void> {
      const verified = await database.bypassTenantIsolation("email verification", async (db) => {
        const used = OPAQUE_TOKEN_PATTERN.test(token)
          ? await oneTimeTokensRepository.consume(db, hashOpaqueToken(token), "email-verification")
          : undefined;
        const marked = used?.email
          ? await users.markEmailVerified(db, used.userId, used.email)
          : false;
        return marked ? used?.userId : undefined;
      });
      if (!verified) {
        throw new AppError("bad-request", "The verification link is invalid, used or expired.");
      }
      await recordForAccount(verified, {
        action: "auth.email_verified",
        resourceType: "user",
        resourceId: verified,
        actorId: verified,
      });
    },

    /** Mails a new link, unless the address is verified already. */
    async resendVerification(principal: Principal): Promise<void> {
      await database.bypassTenantIsolation("email verification request", async (db) => {
        const user = await users.findById(db, principal.userId);
        if (user && !user.emailVerifiedAt) await mailOneTimeToken(db, user, "email-verification");
      });
    },
  };
}

export type EmailVerificationService = ReturnType<typeof createEmailVerificationService>;
