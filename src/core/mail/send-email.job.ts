import { z } from "zod";
import { createSealer } from "../crypto/index.js";
import { defineJob } from "../jobs/index.js";
import { withSpan } from "../observability/tracing.js";
import type { Mailer } from "./mailer.js";
import { type EmailTemplate, emailTemplates, renderEmail } from "./templates.js";

const templateNames = Object.keys(emailTemplates) as [EmailTemplate, ...EmailTemplate[]];

const payloadSchema = z
  .object({
    to: z.email(),
    template: z.enum(templateNames),
    data: z.record(z.string(), z.unknown()),
  })
  .superRefine((value, context) => {
    const result = emailTemplates[value.template].schema.safeParse(value.data);
    if (!result.success) {
      context.addIssue({ code: "custom", path: ["data"], message: result.error.message });
    }
  });

type SendEmailPayload = z.input<typeof payloadSchema>;

/**
 * How a mail job rests in the outbox and the queue: the template's data (the link and its
 * token, the names) sealed; the recipient and the template readable, for operators, and bound
 * to the sealed data so that it opens for that recipient and template only.
 */
const storedSchema = z.object({
  to: z.string(),
  template: z.string(),
  sealedData: z.string(),
});

const sealContext = (payload: { to: string; template: string }) =>
  `send-email\n${payload.template}\n${payload.to}`;

/**
 * Every email goes through this job: retried on failure, never sent inside a request. Its data
 * is sealed with a key derived from SECRET_KEY when it is enqueued and opened by the worker
 * right before rendering, so mailed secrets never rest in clear text in PostgreSQL or Redis;
 * a completed run leaves Redis at once.
 */
export function createSendEmailJob(options: { mailer: Mailer; secretKey: string }) {
  const sealer = createSealer({ secretKey: options.secretKey, purpose: "send-email payload" });
  return defineJob({
    name: "send-email",
    schema: payloadSchema,
    attempts: 8,
    backoff: { type: "exponential", delayMs: 5_000 },
    timeoutMs: 30_000,
    keepCompleted: false,
    sealing: {
      seal: (payload: SendEmailPayload) => ({
        to: payload.to,
        template: payload.template,
        sealedData: sealer.seal(JSON.stringify(payload.data), sealContext(payload)),
      }),
      open(stored) {
        const { sealedData, ...readable } = storedSchema.parse(stored);
        const data: unknown = JSON.parse(sealer.open(sealedData, sealContext(readable)));
        return { ...readable, data };
      },
    },
    async handler(payload, { jobId, once, log }) {
      // A mail accepted by the SMTP server is recorded as sent (for 7 days); a rerun of the job
      // (its worker died before the queue recorded it as completed) does not send it again.
      // Every attempt carries the same Message-ID, which covers what the record cannot: a
      // crash between the server's acceptance and the record.
      // The span names the template and the transport, never the recipient.
      const attributes = {
        "mail.template": payload.template,
        "mail.transport": options.mailer.kind,
      };
      const sent = await once("sent", () =>
        withSpan("mail send", { kind: "client", attributes }, () =>
          options.mailer.send({
            to: payload.to,
            ...renderEmail(payload.template, payload.data),
            messageKey: `send-email.${jobId}`,
          }),
        ),
      );
      if (!sent) log.info("mail already sent for this job; not sending again");
    },
  });
}

export type SendEmailJob = ReturnType<typeof createSendEmailJob>;
