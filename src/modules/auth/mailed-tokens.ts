import type { Config } from "../../config.js";
import type { SystemTx, UserRow } from "../../core/database/index.js";
import type { Jobs } from "../../core/jobs/index.js";
import type { SendEmailJob } from "../../core/mail/index.js";
import { type OneTimeTokenPurpose, oneTimeTokensRepository } from "./one-time-tokens.repository.js";
import { hashOpaqueToken, newOpaqueToken } from "./opaque-tokens.js";

const HOUR_MS = 3_600_000;
/** Mailed tokens: a password reset lasts an hour, an email verification a day. */
const ONE_TIME_TOKEN_TTL_MS: Record<OneTimeTokenPurpose, number> = {
  "password-reset": HOUR_MS,
  "email-verification": 24 * HOUR_MS,
};

/**
 * Issues a mailed single-use token (password reset, email verification) and enqueues its
 * email, in the caller's transaction (the outbox): the email goes out only if the change that
 * asked for it commits. Every way of creating an account or asking for a link uses this one.
 */
export function createOneTimeTokenMailer(options: {
  config: Config;
  jobs: Jobs;
  sendEmail: SendEmailJob;
}) {
  const { config, jobs, sendEmail } = options;
  return async function mailOneTimeToken(
    db: SystemTx,
    user: UserRow,
    purpose: OneTimeTokenPurpose,
  ) {
    const token = newOpaqueToken();
    await oneTimeTokensRepository.issue(db, {
      userId: user.id,
      purpose,
      tokenHash: hashOpaqueToken(token),
      email: purpose === "email-verification" ? user.email : null,
      expiresAt: new Date(Date.now() + ONE_TIME_TOKEN_TTL_MS[purpose]),
    });
    const page = purpose === "password-reset" ? "reset-password" : "verify-email";
    const link = `${config.frontendUrl}/${page}?token=${encodeURIComponent(token)}`;
    await jobs.enqueue(
      sendEmail,
      { to: user.email, template: purpose, data: { name: user.name, link } },
      { transaction: db },
    );
  };
}

export type OneTimeTokenMailer = ReturnType<typeof createOneTimeTokenMailer>;
