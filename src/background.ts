import type { FastifyBaseLogger } from "fastify";
import type { Config } from "./config.js";
import {
  type AnyJob,
  type CronDefinition,
  createCleanupExpiredJob,
  JobRegistry,
  maintenanceCrons,
  sentOutboxCleanup,
} from "./core/jobs/index.js";
import {
  createSendEmailJob,
  logMailer,
  type Mailer,
  type SendEmailJob,
  smtpMailer,
} from "./core/mail/index.js";
import { authCleanups } from "./modules/auth/index.js";
import { invitationsCleanups } from "./modules/invitations/index.js";

/**
 * The kit's background work in one place, shared by the API (which enqueues) and the worker
 * (which runs): every job definition, every cron, and the mailer. A module with jobs of its
 * own adds them here.
 */
export interface Background {
  readonly registry: JobRegistry;
  readonly crons: readonly CronDefinition[];
  readonly mailer: Mailer;
  readonly sendEmail: SendEmailJob;
}

function createMailer(config: Config, logger: FastifyBaseLogger): Mailer {
  if (config.smtpUrl) return smtpMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom });
  logger.warn("SMTP_URL is not set: emails are written to the log, not sent (development only)");
  return logMailer(logger);
}

export function createBackground(
  config: Config,
  logger: FastifyBaseLogger,
  extraJobs: readonly AnyJob[] = [],
): Background {
  const mailer = createMailer(config, logger);
  const sendEmail = createSendEmailJob({ mailer, secretKey: config.secretKey });
  // Expiring rows of every module are deleted by the daily cleanup.
  const cleanupExpired = createCleanupExpiredJob([
    sentOutboxCleanup,
    ...authCleanups,
    ...invitationsCleanups,
  ]);
  const registry = new JobRegistry([sendEmail, cleanupExpired, ...extraJobs]);
  return { registry, crons: maintenanceCrons(cleanupExpired), mailer, sendEmail };
}
