import type { SessionGuard } from "../../core/auth/index.js";
import type { Database } from "../../core/database/index.js";
import { AppError } from "../../core/errors/index.js";
import type { Principal } from "../../core/http/access.js";
import type { UsersService } from "../users/index.js";
import type { AccountAudit } from "./account-audit.js";
import type { LoginThrottle } from "./brute-force.js";
import type { OneTimeTokenMailer } from "./mailed-tokens.js";
import { oneTimeTokensRepository } from "./one-time-tokens.repository.js";
import { hashOpaqueToken, OPAQUE_TOKEN_PATTERN } from "./opaque-tokens.js";
import { hashPassword, requireStrongPassword, verifyPassword } from "./passwords.js";
import { sessionsRepository } from "./sessions.repository.js";
import type { Client } from "./sign-in.js";

/**
 * Changing a password: with the current one, or with a mailed reset link. Either way the
 * user's other sessions end, and a reset link mailed before the change stops working.
 */
export function createPasswordsService(options: {
  database: Database;
  sessions: SessionGuard;
  throttle: LoginThrottle;
  users: UsersService;
  mailOneTimeToken: OneTimeTokenMailer;
  recordForAccount: AccountAudit;
}) {
  const { database, sessions, throttle, users, mailOneTimeToken, recordForAccount } = options;
  const invalidLink = () =>
    new AppError("bad-request", "The reset link is invalid, used or expired.");

  return {
    /**
     * Mails a reset link when the email belongs to an active account, and does nothing
     * otherwise. The route answers before this runs, so its timing tells nothing.
     */
    async requestPasswordReset(email: string): Promise<void> {
      await database.bypassTenantIsolation("password reset request", async (db) => {
        const user = await users.findByEmail(db, email);
        if (user?.isActive) await mailOneTimeToken(db, user, "password-reset");
      });
    },

    /**
     * Sets the password with a mailed link. The link is checked first and used only with a
     * password good enough, so a refused password leaves it working; using it retires the
     * user's other reset links and ends every session.
     */
    async resetPassword(token: string, password: string, client: Client): Promise<void> {
      if (!OPAQUE_TOKEN_PATTERN.test(token)) throw invalidLink();
      const tokenHash = hashOpaqueToken(token);
      const owner = await database.bypassTenantIsolation("password reset", async (db) => {
        const live = await oneTimeTokensRepository.findLive(db, tokenHash, "password-reset");
        return live ? users.findById(db, live.userId) : undefined;
      });
      if (!owner) throw invalidLink();
      await requireStrongPassword("password", password, owner);
      const passwordHash = await hashPassword(password);
      const sessionsEnded = await database.bypassTenantIsolation("password reset", async (db) => {
        const used = await oneTimeTokensRepository.consume(db, tokenHash, "password-reset");
        if (!used) return undefined;
        await oneTimeTokensRepository.retireUnused(db, used.userId, "password-reset");
        await users.setPasswordHash(db, used.userId, passwordHash);
        return sessionsRepository.revokeAllOf(db, used.userId, "password-reset");
      });
      // Used in between by another request.
      if (sessionsEnded === undefined) throw invalidLink();
      await sessions.revoke({ userId: owner.id });
      // Whoever opened the mailed link may sign in from here even during an attack.
      await throttle.trust(owner.email, client.ip);
      await recordForAccount(owner.id, {
        action: "auth.password_reset",
        resourceType: "user",
        resourceId: owner.id,
        actorId: owner.id,
        metadata: { sessionsEnded },
      });
    },

    /**
     * Sets a new password after checking the current one. The user's other sessions end and
     * every unused reset link stops working: a link mailed before the change must not undo it.
     */
    async changePassword(principal: Principal, current: string, next: string): Promise<void> {
      const user = await database.bypassTenantIsolation("password change", (db) =>
        users.findById(db, principal.userId),
      );
      if (!user || !(await verifyPassword(user.passwordHash, current)).matches) {
        throw new AppError("validation-failed", "The current password is incorrect.", {
          errors: [{ field: "currentPassword", message: "is incorrect" }],
        });
      }
      await requireStrongPassword("newPassword", next, user);
      const passwordHash = await hashPassword(next);
      const sessionsEnded = await database.bypassTenantIsolation("password change", async (db) => {
        await users.setPasswordHash(db, user.id, passwordHash);
        await oneTimeTokensRepository.retireUnused(db, user.id, "password-reset");
        return sessionsRepository.revokeAllOf(db, user.id, "password-change", principal.sessionId);
      });
      await sessions.revoke({ userId: user.id });
      await recordForAccount(user.id, {
        action: "auth.password_changed",
        resourceType: "user",
        resourceId: user.id,
        actorId: user.id,
        metadata: { sessionsEnded },
      });
    },
  };
}

export type PasswordsService = ReturnType<typeof createPasswordsService>;
