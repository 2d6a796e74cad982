import { createHmac } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../../config.js";
import type { Database, UserRow } from "../../core/database/index.js";
import { countSignInFailure } from "../../core/observability/kit-metrics.js";
import type { UsersService } from "../users/index.js";
import type { AccountAudit } from "./account-audit.js";
import type { Client } from "./sign-in.js";

/** Why a sign-in failed, in the security log line and the audit row (`auth.login_failed`). */
export type SignInFailure = "unknown-email" | "wrong-password" | "inactive-account" | "locked-out";

/**
 * A failed sign-in: a security log line (`event: "login-failed"`, never the password nor the
 * address), and `auth.login_failed` in the audit log of the account's tenants when the
 * account exists. The audit rows are written without being awaited, so that refusing an
 * existing account takes no longer than refusing an unknown address.
 */
export function createFailedSignInLog(options: {
  config: Config;
  database: Database;
  users: UsersService;
  recordForAccount: AccountAudit;
  logger: FastifyBaseLogger;
}) {
  const { config, database, users, recordForAccount, logger } = options;

  /** A keyed hash of an address: one account's lines correlate, and none can be read back. */
  const emailDigest = (email: string) =>
    createHmac("sha256", config.secretKey)
      .update(`sign-in-failure:${email.trim().toLowerCase()}`)
      .digest("base64url")
      .slice(0, 22);

  return function noteFailedSignIn(
    email: string,
    client: Client,
    reason: SignInFailure,
    user?: UserRow,
  ): void {
    countSignInFailure(reason);
    const line = {
      event: "login-failed",
      reason,
      emailHash: emailDigest(email),
      ...(user ? { userId: user.id } : {}),
      ip: client.ip,
    };
    if (reason === "locked-out") logger.warn(line, "security: sign-in refused, too many failures");
    else logger.info(line, "security: sign-in failed");
    const record = async () => {
      // A refused attempt is refused before the account is read: read it now.
      const account =
        user ??
        (reason === "locked-out"
          ? await database.bypassTenantIsolation(
              "failed sign-in",
              (db) => users.findByEmail(db, email),
              { logLevel: "debug" },
            )
          : undefined);
      if (!account) return;
      await recordForAccount(account.id, {
        action: "auth.login_failed",
        resourceType: "user",
        resourceId: account.id,
        metadata: { reason },
      });
    };
    void record().catch((error: unknown) =>
      logger.error({ err: error }, "a failed sign-in could not be recorded"),
    );
  };
}

export type FailedSignInLog = ReturnType<typeof createFailedSignInLog>;
