import { z } from "zod";
import { defineJob } from "../jobs/index.js";
import type { Mailer } from "./mailer.js";
import { type EmailTemplate, emailTemplates, renderEmail } from "./templates.js";

const templateNames = Object.keys(emailTemplates) as [EmailTemplate, ...EmailTemplate[]];

/** Every email goes through this job: retried on failure, never sent inside a request. */
export function createSendEmailJob(mailer: Mailer) {
  return defineJob({
    name: "send-email",
    schema: z
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
      }),
    attempts: 8,
    backoff: { type: "exponential", delayMs: 5_000 },
    timeoutMs: 30_000,
    async handler(payload) {
      await mailer.send({ to: payload.to, ...renderEmail(payload.template, payload.data) });
    },
  });
}

export type SendEmailJob = ReturnType<typeof createSendEmailJob>;
