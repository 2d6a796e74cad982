import type { FastifyBaseLogger } from "fastify";
import nodemailer from "nodemailer";

export interface MailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export interface Mailer {
  readonly kind: "smtp" | "log";
  send(message: MailMessage): Promise<void>;
  /** The last messages sent (log transport only; tests and local development read them). */
  readonly outbox: readonly MailMessage[];
  close(): Promise<void>;
}

/** SMTP through nodemailer; `smtpUrl` like smtps://user:pass@smtp.example.com:465. */
export function smtpMailer(options: { smtpUrl: string; from: string }): Mailer {
  const transport = nodemailer.createTransport(options.smtpUrl);
  return {
    kind: "smtp",
    outbox: [],
    async send(message) {
      await transport.sendMail({ from: options.from, ...message });
    },
    close: async () => transport.close(),
  };
}

const KEPT_MESSAGES = 50;

/**
 * The development transport: writes each message (recipient, subject, text with its links) to
 * the log and keeps the last ones in memory. Refused in production by the configuration.
 */
export function logMailer(logger: FastifyBaseLogger): Mailer {
  const outbox: MailMessage[] = [];
  return {
    kind: "log",
    outbox,
    async send(message) {
      outbox.push(message);
      if (outbox.length > KEPT_MESSAGES) outbox.shift();
      logger.info(
        { to: message.to, subject: message.subject, text: message.text },
        "email (not sent: no SMTP_URL)",
      );
    },
    close: async () => {},
  };
}
