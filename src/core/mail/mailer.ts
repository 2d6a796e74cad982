import type { FastifyBaseLogger } from "fastify";
import type { Transporter } from "nodemailer";

export interface MailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /**
   * A key unique to this message, the same on every attempt to send it (the job id): the SMTP
   * mailer sends it as the Message-ID, `<key@domain of MAIL_FROM>`, so that a message sent
   * twice carries one Message-ID, on which receiving systems and mail services de-duplicate.
   * Without it, nodemailer makes a random one.
   */
  readonly messageKey?: string;
}

export interface Mailer {
  readonly kind: "smtp" | "log";
  send(message: MailMessage): Promise<void>;
  /** The last messages sent (log transport only; tests and local development read them). */
  readonly outbox: readonly MailMessage[];
  close(): Promise<void>;
}

/**
 * The Message-ID for `key` from the sender `from` (`Acme <no-reply@acme.example>` or
 * `no-reply@acme.example`): `<key@acme.example>`. The key is percent-encoded where a Message-ID
 * does not allow its characters, so distinct keys give distinct ids.
 */
export function messageIdFor(key: string, from: string): string {
  const address = /<([^<>]*)>\s*$/.exec(from)?.[1] ?? from;
  const at = address.lastIndexOf("@");
  const domain = at >= 0 ? address.slice(at + 1).trim() : "";
  const safeDomain = /^[A-Za-z0-9.-]+$/.test(domain) ? domain : "localhost";
  const local = encodeURIComponent(key).replace(
    /[()]/g,
    (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `<${local}@${safeDomain}>`;
}

/**
 * SMTP through nodemailer; `smtpUrl` like smtps://user:pass@smtp.example.com:465. nodemailer is
 * loaded at the first message: an API process that hands its mail to the workers never sends one.
 */
export function smtpMailer(options: { smtpUrl: string; from: string }): Mailer {
  let transport: Promise<Transporter> | undefined;
  const connect = () => {
    transport ??= import("nodemailer").then(({ default: nodemailer }) =>
      nodemailer.createTransport(options.smtpUrl),
    );
    return transport;
  };
  return {
    kind: "smtp",
    outbox: [],
    async send({ messageKey, ...message }) {
      await (await connect()).sendMail({
        from: options.from,
        ...message,
        ...(messageKey === undefined ? {} : { messageId: messageIdFor(messageKey, options.from) }),
      });
    },
    close: async () => {
      if (transport) (await transport).close();
    },
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
