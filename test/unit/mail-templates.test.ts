import { describe, expect, it } from "vitest";
import { ZodError } from "zod";
import { type EmailTemplate, emailTemplates, renderEmail } from "../../src/core/mail/index.js";

/** Every email template: its subject, the link in full in the text, escaped HTML. */

const link = "https://app.example.com/act?token=a1b2&next=%2Fhome";
const hostile = `<script>alert("x")</script> & 'friends'`;

const cases: {
  template: EmailTemplate;
  data: Record<string, string>;
  subject: string;
  /** Where the hostile text goes in the data. */
  hostileField: string;
}[] = [
  {
    template: "password-reset",
    data: { name: "Ada", link },
    subject: "Reset your password",
    hostileField: "name",
  },
  {
    template: "email-verification",
    data: { name: "Ada", link },
    subject: "Confirm your email address",
    hostileField: "name",
  },
  {
    template: "invitation",
    data: { tenantName: "Acme", inviterName: "Ada", link },
    subject: "Ada invited you to Acme",
    hostileField: "tenantName",
  },
];

describe("renderEmail", () => {
  it("covers every template", () => {
    expect(cases.map((each) => each.template).sort()).toEqual(Object.keys(emailTemplates).sort());
  });

  describe.each(cases)("$template", ({ template, data, subject, hostileField }) => {
    it("has its subject and the full link in the text", () => {
      const email = renderEmail(template, data);
      expect(email.subject).toBe(subject);
      expect(email.text).toContain(link);
      expect(email.text.endsWith("\n")).toBe(true);
      // The link stands on a line of its own, so mail clients make it clickable.
      expect(email.text.split("\n")).toContain(link);
    });

    it("links the link in HTML, escaped in the attribute and the text", () => {
      const { html } = renderEmail(template, data);
      const escapedLink = link.replace(/&/g, "&#38;");
      expect(html).toContain(`<p><a href="${escapedLink}">${escapedLink}</a></p>`);
      expect(html).not.toContain("token=a1b2&next");
    });

    it("escapes HTML in the data", () => {
      const email = renderEmail(template, { ...data, [hostileField]: hostile });
      expect(email.html).not.toContain("<script>");
      expect(email.html).toContain(
        "&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;friends&#39;",
      );
      // The text body is plain text: kept as written.
      expect(email.text).toContain(hostile);
      // Every tag in the HTML is one the template wrote.
      expect(email.html.match(/<\/?[a-z]+/g)?.every((tag) => /^<\/?(p|a)$/.test(tag))).toBe(true);
    });

    it("refuses data whose link is not a URL", () => {
      expect(() => renderEmail(template, { ...data, link: "not a url" })).toThrow(ZodError);
      expect(() => renderEmail(template, { ...data, link: "/relative/path" })).toThrow(ZodError);
    });

    it("refuses missing fields", () => {
      const { link: _link, ...withoutLink } = data;
      expect(() => renderEmail(template, withoutLink)).toThrow(ZodError);
      expect(() => renderEmail(template, undefined)).toThrow(ZodError);
    });
  });

  it("puts the inviter and tenant names in the invitation's subject unescaped (a header, not HTML)", () => {
    const email = renderEmail("invitation", { tenantName: "R&D <Lab>", inviterName: "Ada", link });
    expect(email.subject).toBe("Ada invited you to R&D <Lab>");
    expect(email.html).toContain("R&#38;D &#60;Lab&#62;");
  });
});
