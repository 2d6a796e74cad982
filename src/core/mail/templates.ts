import { z } from "zod";
import { oneLineText } from "../http/text.js";

/**
 * The kit's emails: each a small function from typed data to a subject and paragraphs. Text is
 * the primary body (links in full); HTML is the same content, escaped. Only a template's own
 * `link` becomes a link: text that merely looks like a URL stays text.
 *
 * Names in the data (a user's, a tenant's) were chosen by users, maybe by someone hostile to
 * the recipient, so a template shows them only through `quoted`: on one line, stripped of
 * invisible and direction-changing characters, clipped, and between quotation marks, so that a
 * tenant named "Security Team: verify at https://evil.example" reads as a name, not as advice
 * from the platform.
 */

/** The longest user-chosen name shown, in characters (grapheme clusters), ellipsis included. */
export const MAX_SHOWN_NAME_LENGTH = 64;

const graphemes = new Intl.Segmenter("en", { granularity: "grapheme" });

/**
 * User-chosen text on one line: format characters (bidi overrides and isolates, zero-width
 * characters) and lone surrogates removed, control characters and line breaks made spaces,
 * runs of spaces made one, and clipped to `maxLength` characters with an ellipsis.
 */
export function cleanUserText(value: string, maxLength = MAX_SHOWN_NAME_LENGTH): string {
  const oneLine = oneLineText(value);
  const characters = Array.from(graphemes.segment(oneLine), (each) => each.segment);
  if (characters.length <= maxLength) return oneLine;
  return `${characters
    .slice(0, maxLength - 1)
    .join("")
    .trimEnd()}…`;
}

/** A user-chosen name as shown: cleaned, clipped, and quoted (its own double quotes made '). */
const quoted = (value: string) => `“${cleanUserText(value).replace(/["“”„‟«»＂]/g, "'")}”`;

type Paragraph = string | { readonly link: string };

const link = z.url({ protocol: /^https?$/ });

/** Every email says where it comes from: the platform its link leads to. */
const automated = (url: string) => `This is an automated message from ${new URL(url).host}.`;

export const emailTemplates = {
  "password-reset": {
    schema: z.object({ name: z.string(), link }),
    render: (data: { name: string; link: string }) => ({
      subject: "Reset your password",
      paragraphs: [
        `Someone asked to reset the password of the account ${quoted(data.name)} that uses this email address. If it was you, open this link within an hour:`,
        { link: data.link },
        "If it was not you, ignore this message; your password stays as it is.",
        automated(data.link),
      ],
    }),
  },
  "email-verification": {
    schema: z.object({ name: z.string(), link }),
    render: (data: { name: string; link: string }) => ({
      subject: "Confirm your email address",
      paragraphs: [
        `Please confirm that this email address belongs to the account ${quoted(data.name)} by opening this link within 24 hours:`,
        { link: data.link },
        "If you do not know this account, ignore this message; the address stays unconfirmed.",
        automated(data.link),
      ],
    }),
  },
  invitation: {
    schema: z.object({ tenantName: z.string(), inviterName: z.string(), link }),
    render: (data: { tenantName: string; inviterName: string; link: string }) => ({
      subject: `Invitation to join ${quoted(data.tenantName)}`,
      paragraphs: [
        `${quoted(data.inviterName)} invited you to join ${quoted(data.tenantName)}.`,
        "Open this link within 7 days to accept:",
        { link: data.link },
        "If you did not expect this invitation, ignore this message.",
        `${automated(data.link)} The names in quotation marks were chosen by the people who invited you, not by ${new URL(data.link).host}.`,
      ],
    }),
  },
} as const satisfies Record<
  string,
  {
    schema: z.ZodType;
    render: (data: never) => { subject: string; paragraphs: readonly Paragraph[] };
  }
>;

export type EmailTemplate = keyof typeof emailTemplates;

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderEmail(template: EmailTemplate, data: unknown): RenderedEmail {
  const definition = emailTemplates[template];
  const parsed = definition.schema.parse(data);
  const { subject, paragraphs } = definition.render(parsed as never) as {
    subject: string;
    paragraphs: readonly Paragraph[];
  };
  const text = paragraphs.map((paragraph) =>
    typeof paragraph === "string" ? paragraph : paragraph.link,
  );
  const html = paragraphs.map((paragraph) =>
    typeof paragraph === "string"
      ? `<p>${escapeHtml(paragraph)}</p>`
      : `<p><a href="${escapeHtml(paragraph.link)}">${escapeHtml(paragraph.link)}</a></p>`,
  );
  return { subject, text: `${text.join("\n\n")}\n`, html: html.join("\n") };
}
