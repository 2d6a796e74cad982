import { describe, expect, it } from "vitest";
import { ZodError } from "zod";
import { type EmailTemplate, emailTemplates, renderEmail } from "../../src/core/mail/index.js";
import { cleanUserText, MAX_SHOWN_NAME_LENGTH } from "../../src/core/mail/templates.js";

/**
 * Every email template: its subject, the link in full in the text, escaped HTML, and
 * user-chosen names that are cleaned, clipped and quoted, never a link and never unquoted.
 */

const link = "https://app.example.com/act?token=a1b2&next=%2Fhome";
const hostile = `<script>alert("x")</script> & 'friends'`;

const cases: {
  template: EmailTemplate;
  data: Record<string, string>;
  subject: string;
  /** The user-chosen fields of the data. */
  nameFields: string[];
}[] = [
  {
    template: "password-reset",
    data: { name: "Ada", link },
    subject: "Reset your password",
    nameFields: ["name"],
  },
  {
    template: "email-verification",
    data: { name: "Ada", link },
    subject: "Confirm your email address",
    nameFields: ["name"],
  },
  {
    template: "invitation",
    data: { tenantName: "Acme", inviterName: "Ada", link },
    subject: "Invitation to join “Acme”",
    nameFields: ["tenantName", "inviterName"],
  },
];

/** The tags of an HTML body, in order. */
const tagsOf = (html: string) => html.match(/<\/?[a-z]+/g) ?? [];

describe("renderEmail", () => {
  it("covers every template", () => {
    expect(cases.map((each) => each.template).sort()).toEqual(Object.keys(emailTemplates).sort());
  });

  describe.each(cases)("$template", ({ template, data, subject, nameFields }) => {
    it("has its subject and the full link in the text", () => {
      const email = renderEmail(template, data);
      expect(email.subject).toBe(subject);
      expect(email.text).toContain(link);
      expect(email.text.endsWith("\n")).toBe(true);
      // The link stands on a line of its own, so mail clients make it clickable.
      expect(email.text.split("\n")).toContain(link);
    });

    it("says it is an automated message from the platform its link leads to", () => {
      const email = renderEmail(template, data);
      expect(email.text).toContain("This is an automated message from app.example.com.");
      expect(email.html).toContain("This is an automated message from app.example.com.");
    });

    it("links the link in HTML, escaped in the attribute and the text", () => {
      const { html } = renderEmail(template, data);
      const escapedLink = link.replace(/&/g, "&#38;");
      expect(html).toContain(`<p><a href="${escapedLink}">${escapedLink}</a></p>`);
      expect(html).not.toContain("token=a1b2&next");
    });

    it.each(nameFields)("quotes %s, and escapes HTML in it", (field) => {
      const email = renderEmail(template, { ...data, [field]: hostile });
      // Its own double quotes cannot close the quotation.
      const shown = `“<script>alert('x')</script> & 'friends'”`;
      expect(email.text).toContain(shown);
      expect(email.html).not.toContain("<script>");
      expect(email.html).toContain(
        "“&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; &#38; &#39;friends&#39;”",
      );
      expect(email.subject).not.toContain(hostile);
      // Every tag in the HTML is one the template wrote.
      expect(tagsOf(email.html).every((tag) => /^<\/?(p|a)$/.test(tag))).toBe(true);
    });

    it.each(nameFields)("never makes %s a link, even when it is a URL", (field) => {
      for (const url of ["https://evil.example/login", "http://evil.example"]) {
        const email = renderEmail(template, { ...data, [field]: url });
        expect(tagsOf(email.html).filter((tag) => tag === "<a")).toHaveLength(1);
        expect(email.html).not.toContain(`href="${url}`);
        expect(email.text).toContain(`“${url}”`);
        expect(email.text.split("\n")).not.toContain(url);
      }
    });

    it.each(nameFields)(
      "strips control, format and line-break characters from %s, in every part",
      (field) => {
        const name =
          "Ev\u202Eil\u200B \u2066Corp\u2069\uFEFF\r\nBcc: x@evil.example\u2028\u0000\u001b[31m\u0085!";
        const email = renderEmail(template, { ...data, [field]: name });
        const cleaned = "Evil Corp Bcc: x@evil.example [31m !";
        expect(email.text).toContain(`“${cleaned}”`);
        for (const part of [email.subject, email.text, email.html]) {
          // Format characters, line separators, and control characters other than \n.
          expect(part).not.toMatch(/[\p{Cf}\p{Zl}\p{Zp}]|[^\P{Cc}\n]/u);
        }
        expect(email.subject).not.toMatch(/[\r\n]/);
      },
    );

    it.each(nameFields)("clips a long %s with an ellipsis", (field) => {
      const email = renderEmail(template, { ...data, [field]: `${"Acme ".repeat(40)}Ltd` });
      const clipped = `“${"Acme ".repeat(12)}Acm…”`;
      expect(clipped.length).toBe(MAX_SHOWN_NAME_LENGTH + 2);
      expect(email.text).toContain(clipped);
      expect(email.html).toContain(clipped);
      expect(email.text).not.toContain("Ltd");
      expect(email.subject).not.toContain("Ltd");
    });

    it("refuses data whose link is not an http(s) URL", () => {
      expect(() => renderEmail(template, { ...data, link: "not a url" })).toThrow(ZodError);
      expect(() => renderEmail(template, { ...data, link: "/relative/path" })).toThrow(ZodError);
      expect(() => renderEmail(template, { ...data, link: "javascript:alert(1)" })).toThrow(
        ZodError,
      );
    });

    it("refuses missing fields", () => {
      const { link: _link, ...withoutLink } = data;
      expect(() => renderEmail(template, withoutLink)).toThrow(ZodError);
      expect(() => renderEmail(template, undefined)).toThrow(ZodError);
    });
  });

  it("quotes the tenant name in the invitation's subject, unescaped (a header, not HTML)", () => {
    const email = renderEmail("invitation", { tenantName: "R&D <Lab>", inviterName: "Ada", link });
    expect(email.subject).toBe("Invitation to join “R&D <Lab>”");
    expect(email.html).toContain("“R&#38;D &#60;Lab&#62;”");
    expect(email.subject).not.toContain("Ada");
  });

  it("shows a tenant name that reads like advice as a quoted name in a platform message", () => {
    const tenantName = "Security Team: verify your account at http://evil.example";
    const email = renderEmail("invitation", { tenantName, inviterName: "IT Support", link });
    expect(email.subject).toBe(`Invitation to join “${tenantName}”`);
    expect(email.text).toContain(`“IT Support” invited you to join “${tenantName}”.`);
    expect(email.text).toContain(
      "The names in quotation marks were chosen by the people who invited you, not by app.example.com.",
    );
    expect(email.html).not.toContain('href="http://evil.example');
  });

  it("keeps a name's quotation closed whatever quotation marks it holds", () => {
    const email = renderEmail("invitation", {
      tenantName: `Acme” — urgent: «reset» "now"`,
      inviterName: "Ada",
      link,
    });
    expect(email.subject).toBe(`Invitation to join “Acme' — urgent: 'reset' 'now'”`);
  });
});

describe("cleanUserText", () => {
  it("leaves an ordinary name as it is", () => {
    for (const name of ["Ada Lovelace", "Zoë O'Brien-Čapek", "山田 太郎", "Acme GmbH & Co. KG"]) {
      expect(cleanUserText(name)).toBe(name);
    }
  });

  it("makes one line of single spaces, trimmed", () => {
    expect(cleanUserText("  Ada\t\n\n  Lovelace \u00a0")).toBe("Ada Lovelace");
  });

  it("counts characters as people see them, and never splits one when clipping", () => {
    // "e" and a combining accent compose to one character; an emoji with a skin tone is one.
    expect(cleanUserText("Rene\u0301e")).toBe("Renée");
    const waves = "👋🏽".repeat(70);
    const clipped = cleanUserText(waves);
    expect(clipped).toBe(`${"👋🏽".repeat(MAX_SHOWN_NAME_LENGTH - 1)}…`);
    expect(cleanUserText("x".repeat(MAX_SHOWN_NAME_LENGTH))).toBe("x".repeat(64));
    expect(cleanUserText("x".repeat(MAX_SHOWN_NAME_LENGTH + 1))).toBe(`${"x".repeat(63)}…`);
  });

  it("drops lone surrogates", () => {
    expect(cleanUserText("Ada\ud800 Lovelace")).toBe("Ada Lovelace");
  });
});
