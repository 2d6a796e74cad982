import { createHash, createHmac, hkdfSync, randomBytes } from "node:crypto";

/**
 * Opaque secrets handed to clients (refresh tokens, mailed one-time tokens): 256 random bits,
 * base64url. Only their SHA-256 is stored; a fast hash suffices for secrets this long.
 */
export function newOpaqueToken(): string {
  return randomBytes(32).toString("base64url");
}

export function hashOpaqueToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Refresh tokens as a client sends them: 43 base64url characters. */
export const OPAQUE_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * The successor of a refresh token is derived from it with a key only the server holds, so
 * that two refreshes racing with the same token (two browser tabs) both get the same successor
 * without the server ever storing a token in the clear. Knowing a token without the key does
 * not reveal its successor.
 */
export function createSuccessorDerivation(secretKey: string): (token: string) => string {
  const key = Buffer.from(hkdfSync("sha256", secretKey, "", "kit refresh-token successor", 32));
  return (token) => createHmac("sha256", key).update(token).digest("base64url");
}
