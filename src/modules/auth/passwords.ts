import { hash, verify } from "@node-rs/argon2";
import { dictionary } from "@zxcvbn-ts/language-common";
import { z } from "zod";

/**
 * Password hashing and the password policy.
 *
 * argon2id with OWASP's first recommended configuration (19 MiB of memory, 2 iterations, 1 lane),
 * about 20 ms a hash here. A stored hash made with other parameters is replaced at the next
 * successful sign-in (`needsRehash`).
 */
export const ARGON2_PARAMETERS = Object.freeze({
  // Algorithm.Argon2id: the package's const enum cannot be imported under isolated modules.
  algorithm: 2,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
});

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_PARAMETERS);
}

/**
 * Verifies `password` against `stored`; with no stored hash (unknown email, OAuth-only account)
 * it verifies against a hash of a random password instead, so the answer takes the same time.
 */
export async function verifyPassword(stored: string | null, password: string): Promise<boolean> {
  const target = stored ?? (await dummyHash());
  try {
    const matches = await verify(target, password);
    return stored !== null && matches;
  } catch {
    // A malformed stored hash never matches.
    return false;
  }
}

let dummy: Promise<string> | undefined;
const dummyHash = () => {
  dummy ??= hash(crypto.randomUUID(), ARGON2_PARAMETERS);
  return dummy;
};

/** Whether a stored hash was made with other parameters than today's. */
export function needsRehash(stored: string): boolean {
  const { memoryCost, timeCost, parallelism } = ARGON2_PARAMETERS;
  return !stored.startsWith(`$argon2id$v=19$m=${memoryCost},t=${timeCost},p=${parallelism}$`);
}

/**
 * The common-password list: zxcvbn's list of frequent passwords (about 49,000, from leaked
 * password sets, most frequent first), compared case-insensitively.
 */
let commonPasswords: Set<string> | undefined;

export function isCommonPassword(password: string): boolean {
  commonPasswords ??= new Set(
    dictionary["passwords-common"].map((common: string) => common.toLowerCase()),
  );
  return commonPasswords.has(password.toLowerCase());
}

/**
 * A new password: 12 to 128 characters (code points), no composition rules, not on the
 * common-password list. Length counts code points so that emoji and accents count as one.
 */
export const newPassword = z
  .string()
  // Four UTF-16 units per code point at most: longer strings fail before they are split.
  .max(PASSWORD_MAX_LENGTH * 4, { message: `Use at most ${PASSWORD_MAX_LENGTH} characters.` })
  .refine((value) => [...value].length >= PASSWORD_MIN_LENGTH, {
    message: `Use at least ${PASSWORD_MIN_LENGTH} characters.`,
  })
  .refine((value) => [...value].length <= PASSWORD_MAX_LENGTH, {
    message: `Use at most ${PASSWORD_MAX_LENGTH} characters.`,
  })
  .refine((value) => !isCommonPassword(value), {
    message: "This password is too common; choose another.",
  });
