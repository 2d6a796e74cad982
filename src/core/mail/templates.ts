import { z } from "zod";

/**
 * The kit's emails: each a small function from typed data to subject, text and HTML. Text is
 * the primary body (links in full); HTML is the same content, escaped.
 */
const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const link = z.url();

export const emailTemplates = {
  "password-reset": {
    schema: z.object({ name: z.string(), link }),
    render: (data: { name: string; link: string }) => ({
      subject: "Reset your password",
      paragraphs: [
        `Hello ${data.name},`,
        "Someone asked to reset the password of your account. If it was you, open this link within an hour:",
        data.link,
        "If it was not you, ignore this message; your password stays as it is.",
      ],
    }),
  },
  "email-verification": {
    schema: z.object({ name: z.string(), link }),
    render: (data: { name: string; link: string }) => ({
      subject: "Confirm your email address",
      paragraphs: [
        `Hello ${data.name},`,
        "Please confirm your email address by opening this link within 24 hours:",
        data.link,
      ],
    }),
  },
  invitation: {
    schema: z.object({ tenantName: z.string(), inviterName: z.string(), link }),
    render: (data: { tenantName: string; inviterName: string; link: string }) => ({
      subject: `${data.inviterName} invited you to ${data.tenantName}`,
      paragraphs: [
        `${data.inviterName} invited you to join ${data.tenantName}.`,
        "Open this link within 7 days to accept:",
        data.link,
      ],
    }),
  },
} as const;

export type EmailTemplate = keyof typeof emailTemplates;

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

export function renderEmail(template: EmailTemplate, data: unknown): RenderedEmail {
  const definition = emailTemplates[template];
  const parsed = definition.schema.parse(data);
  const { subject, paragraphs } = definition.render(parsed as never);
  const html = paragraphs
    .map((paragraph) =>
      /^https?:\/\//.test(paragraph)
        ? `<p><a href="${escapeHtml(paragraph)}">${escapeHtml(paragraph)}</a></p>`
        : `<p>${escapeHtml(paragraph)}</p>`,
    )
    .join("\n");
  return { subject, text: `${paragraphs.join("\n\n")}\n`, html };
}
