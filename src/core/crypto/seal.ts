import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Sealing: authenticated encryption of a short secret that must rest somewhere the server does
 * not fully trust (a queue, an outbox row) and be read back only by the server. AES-256-GCM with
 * a key derived from SECRET_KEY by HKDF-SHA256 and a purpose label, so each use has its own key
 * and none of them is SECRET_KEY itself.
 *
 * A sealed value is `v1.<iv>.<ciphertext>.<tag>`, each part base64url: the version names the
 * algorithm and key derivation, so a later version can change either and still recognise (and
 * refuse or migrate) values of this one.
 */

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** A sealed value could not be opened. The message never contains any part of the value. */
export class SealError extends Error {
  constructor(
    readonly reason: "malformed" | "unknown-version" | "not-authentic",
    message: string,
  ) {
    super(message);
    this.name = "SealError";
  }
}

export interface Sealer {
  /**
   * Seals `plaintext`. `context`, when given, is authenticated but not encrypted: the value
   * opens only with the same context (bind a secret to, say, its recipient).
   */
  seal(plaintext: string, context?: string): string;
  /** The plaintext of a value this sealer (same key, same purpose) sealed; throws SealError. */
  open(sealed: string, context?: string): string;
}

export function createSealer(options: { secretKey: string; purpose: string }): Sealer {
  if (!options.purpose) throw new Error("A sealer needs a purpose label");
  const key = Buffer.from(
    hkdfSync("sha256", options.secretKey, "", `kit seal ${VERSION} ${options.purpose}`, 32),
  );
  return {
    seal(plaintext, context = "") {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(context, "utf8"));
      const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return [VERSION, iv, ciphertext, cipher.getAuthTag()]
        .map((part) => (typeof part === "string" ? part : part.toString("base64url")))
        .join(".");
    },
    open(sealed, context = "") {
      if (typeof sealed !== "string") throw new SealError("malformed", "sealed value is not text");
      const parts = sealed.split(".");
      if (parts[0] !== VERSION) {
        throw parts.length === 4
          ? new SealError("unknown-version", "sealed value has an unknown version")
          : new SealError("malformed", "sealed value is malformed");
      }
      const [, ivPart, ciphertextPart, tagPart] = parts;
      if (
        parts.length !== 4 ||
        ivPart === undefined ||
        ciphertextPart === undefined ||
        tagPart === undefined ||
        !parts.every((part) => BASE64URL.test(part))
      ) {
        throw new SealError("malformed", "sealed value is malformed");
      }
      const iv = Buffer.from(ivPart, "base64url");
      const tag = Buffer.from(tagPart, "base64url");
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
        throw new SealError("malformed", "sealed value is malformed");
      }
      const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context, "utf8"));
      decipher.setAuthTag(tag);
      try {
        return Buffer.concat([
          decipher.update(Buffer.from(ciphertextPart, "base64url")),
          decipher.final(),
        ]).toString("utf8");
      } catch {
        throw new SealError(
          "not-authentic",
          "sealed value cannot be opened: sealed with another key or altered",
        );
      }
    },
  };
}
