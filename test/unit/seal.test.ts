import { describe, expect, it } from "vitest";
import { createSealer, SealError } from "../../src/core/crypto/index.js";

/** Sealing (AES-256-GCM under a key derived from SECRET_KEY): what opens, and what never does. */

const secretKey = "unit-test-secret-0123456789-abcdefghijklmnop";
const sealer = createSealer({ secretKey, purpose: "unit test" });
const secret =
  "https://app.example.com/reset-password?token=Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dQ";

function openError(open: () => string): SealError {
  try {
    open();
  } catch (error) {
    expect(error).toBeInstanceOf(SealError);
    return error as SealError;
  }
  throw new Error("the sealed value opened");
}

/** Flips one bit of the base64url part `index` (1 iv, 2 ciphertext, 3 tag) of a sealed value. */
function tampered(sealed: string, index: number): string {
  const parts = sealed.split(".");
  const bytes = Buffer.from(parts[index] ?? "", "base64url");
  bytes[0] = (bytes[0] ?? 0) ^ 1;
  parts[index] = bytes.toString("base64url");
  return parts.join(".");
}

describe("createSealer", () => {
  it("round-trips text, unicode included, and hides it", () => {
    for (const plaintext of [secret, "", "Ünïcødé “quoted” 🎉", "x".repeat(10_000)]) {
      const sealed = sealer.seal(plaintext);
      expect(sealer.open(sealed)).toBe(plaintext);
      if (plaintext.length > 0) expect(sealed).not.toContain(plaintext);
    }
    const sealed = sealer.seal(secret);
    expect(sealed).not.toContain("token");
    expect(sealed).not.toContain(Buffer.from(secret).toString("base64url").slice(0, 16));
  });

  it("writes v1.<iv>.<ciphertext>.<tag> in base64url, with a fresh IV each time", () => {
    const first = sealer.seal(secret);
    const second = sealer.seal(secret);
    expect(first).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(first).not.toBe(second);
    expect(first.split(".")[1]).not.toBe(second.split(".")[1]);
  });

  it("detects any change to the IV, the ciphertext or the tag", () => {
    const sealed = sealer.seal(secret);
    for (const index of [1, 2, 3]) {
      expect(openError(() => sealer.open(tampered(sealed, index))).reason).toBe("not-authentic");
    }
    const [version, iv, ciphertext, tag] = sealed.split(".");
    const shorter = [version, iv, ciphertext?.slice(0, -2), tag].join(".");
    expect(openError(() => sealer.open(shorter)).reason).toBe("not-authentic");
  });

  it("opens only with the context it was sealed with", () => {
    const sealed = sealer.seal(secret, "send-email\nada@example.com");
    expect(sealer.open(sealed, "send-email\nada@example.com")).toBe(secret);
    expect(openError(() => sealer.open(sealed, "send-email\neve@example.com")).reason).toBe(
      "not-authentic",
    );
    expect(openError(() => sealer.open(sealed)).reason).toBe("not-authentic");
  });

  it("does not open with another SECRET_KEY or another purpose", () => {
    const sealed = sealer.seal(secret);
    const otherKey = createSealer({ secretKey: `${secretKey}-rotated`, purpose: "unit test" });
    const otherPurpose = createSealer({ secretKey, purpose: "another use" });
    expect(openError(() => otherKey.open(sealed)).reason).toBe("not-authentic");
    expect(openError(() => otherPurpose.open(sealed)).reason).toBe("not-authentic");
  });

  it("refuses an unknown version and malformed values, without quoting them", () => {
    const [, iv, ciphertext, tag] = sealer.seal(secret).split(".");
    const unknown = openError(() => sealer.open(["v2", iv, ciphertext, tag].join(".")));
    expect(unknown.reason).toBe("unknown-version");
    expect(unknown.message).toBe("sealed value has an unknown version");

    for (const malformed of [
      secret,
      "",
      "v1",
      "v1.a.b",
      `v1.${iv}.${ciphertext}.${tag}.extra`,
      `v1.${iv}.${ciphertext}.${tag?.slice(0, 10)}`,
      `v1.${iv?.slice(0, 8)}.${ciphertext}.${tag}`,
      `v1.${iv}.${ciphertext}!.${tag}`,
      42 as unknown as string,
    ]) {
      const error = openError(() => sealer.open(malformed));
      expect(error.reason).toBe("malformed");
      expect(error.message).not.toContain("token");
    }
  });

  it("needs a purpose label", () => {
    expect(() => createSealer({ secretKey, purpose: "" })).toThrow(/purpose/);
  });
});
