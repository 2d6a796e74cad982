import { describe, expect, it } from "vitest";
import { createSendEmailJob, type Mailer, type MailMessage } from "../../src/core/mail/index.js";

/**
 * The send-email job's sealing: what it stores (outbox row, queue) holds no part of the
 * template data in clear text, and opens only with the same key, for the same recipient and
 * template. Every template, since each carries a link with a token.
 */

const secretKey = "unit-test-secret-0123456789-abcdefghijklmnop";
const token = "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dQ";
const link = `https://app.example.com/accept?token=${token}`;

function capturingMailer(): Mailer & { sent: MailMessage[] } {
  const sent: MailMessage[] = [];
  return {
    kind: "log",
    outbox: sent,
    sent,
    send: async (message) => void sent.push(message),
    close: async () => {},
  };
}

const payloads = [
  { to: "ada@example.com", template: "password-reset", data: { name: "Ada Lovelace", link } },
  { to: "ada@example.com", template: "email-verification", data: { name: "Ada Lovelace", link } },
  {
    to: "bob@example.com",
    template: "invitation",
    data: { tenantName: "Acme Research", inviterName: "Ada Lovelace", link },
  },
] as const;

const job = createSendEmailJob({ mailer: capturingMailer(), secretKey });
const sealing = job.sealing;
if (!sealing) throw new Error("send-email must seal its payload");

describe.each(payloads)("send-email sealing: $template", (payload) => {
  it("stores the recipient and template, and the data only sealed", () => {
    const stored = sealing.seal(payload);
    expect(stored).toEqual({
      to: payload.to,
      template: payload.template,
      sealedData: expect.stringMatching(/^v1\./),
    });
    const json = JSON.stringify(stored);
    for (const clear of [token, link, "token=", "Lovelace", "Acme", "app.example.com"]) {
      expect(json).not.toContain(clear);
    }
    expect(sealing.open(stored)).toEqual(payload);
  });

  it("opens only for the recipient and template it was sealed for", () => {
    const stored = sealing.seal(payload) as Record<string, unknown>;
    expect(() => sealing.open({ ...stored, to: "eve@example.com" })).toThrow();
    const otherTemplate = payload.template === "invitation" ? "password-reset" : "invitation";
    expect(() => sealing.open({ ...stored, template: otherTemplate })).toThrow();
  });

  it("does not open under another SECRET_KEY, and never quotes what it could not open", () => {
    const stored = sealing.seal(payload);
    const rotated = createSendEmailJob({ mailer: capturingMailer(), secretKey: `${secretKey}-2` });
    let message = "";
    try {
      rotated.sealing?.open(stored);
    } catch (error) {
      message = String(error);
    }
    expect(message).toMatch(/sealed value cannot be opened/);
    expect(message).not.toContain(token);
  });

  it("refuses a stored payload that is not sealed (written in clear)", () => {
    expect(() => sealing.open(payload)).toThrow();
  });
});

describe("send-email", () => {
  it("sends the opened payload, link and token included", async () => {
    const mailer = capturingMailer();
    const sending = createSendEmailJob({ mailer, secretKey });
    const opened = sending.schema.parse(sending.sealing?.open(sending.sealing.seal(payloads[0])));
    const context = {
      jobId: "job-1",
      async once(_step: string, fn: () => Promise<void>) {
        await fn();
        return true;
      },
    };
    await sending.handler(opened, context as never);
    expect(mailer.sent).toHaveLength(1);
    expect(mailer.sent[0]?.to).toBe("ada@example.com");
    expect(mailer.sent[0]?.text).toContain(link);
    expect(mailer.sent[0]?.messageKey).toBe("send-email.job-1");
  });

  it("leaves the queue once completed", () => {
    expect(job.keepCompleted).toBe(false);
  });
});
