import { hash, verify } from "@node-rs/argon2";
import type { TranslationKeys, ZxcvbnFactory } from "@zxcvbn-ts/core";
import { z } from "zod";
import { AppError } from "../../core/errors/index.js";

/**
 * Password hashing and the password policy.
 *
 * argon2id with OWASP's first recommended configuration (19 MiB of memory, 2 iterations, 1 lane),
 * about 20 ms a hash here. A stored hash made with other parameters is replaced at the next
 * successful sign-in.
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

/**
 * Passwords are hashed and verified in Unicode normal form C, so that a passphrase with
 * accents typed as composed characters on one system and as decomposed ones on another
 * (macOS input methods, some Linux ones) is the same password.
 */
const normalizePassword = (password: string) => password.normalize("NFC");

export function hashPassword(password: string): Promise<string> {
  return hash(normalizePassword(password), ARGON2_PARAMETERS);
}

export interface PasswordVerification {
  readonly matches: boolean;
  /** The password matched, but the stored hash should be replaced by `hashPassword`'s. */
  readonly rehash: boolean;
}

/**
 * Verifies `password` against `stored`; with no stored hash (unknown email, OAuth-only account)
 * it verifies against a hash of a random password instead, so the answer takes the same time.
 *
 * Hashes stored before passwords were normalised hold the password as typed: when the
 * normalised form does not match and differs from the typed one, the typed one is verified too,
 * and a match asks for a rehash (of the normal form), so nobody is locked out and each such
 * hash is replaced at its owner's next sign-in.
 */
export async function verifyPassword(
  stored: string | null,
  password: string,
): Promise<PasswordVerification> {
  const target = stored ?? (await dummyHash());
  const normalized = normalizePassword(password);
  let matches = await verifies(target, normalized);
  let typedFormMatched = false;
  if (!matches && normalized !== password) {
    matches = typedFormMatched = await verifies(target, password);
  }
  if (stored === null || !matches) return { matches: false, rehash: false };
  return { matches: true, rehash: typedFormMatched || needsRehash(stored) };
}

async function verifies(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
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
function needsRehash(stored: string): boolean {
  const { memoryCost, timeCost, parallelism } = ARGON2_PARAMETERS;
  return !stored.startsWith(`$argon2id$v=19$m=${memoryCost},t=${timeCost},p=${parallelism}$`);
}

/**
 * The length rules of a new password: 12 to 128 characters, counted as code points of the
 * normal form, so that emoji and accents count as one. No composition rules. How guessable
 * the password is depends on who chooses it, so `passwordWeakness` checks that in the service,
 * with the account's own words.
 */
export const newPassword = z
  .string()
  // Four UTF-16 units per code point at most: longer strings fail before they are split.
  .max(PASSWORD_MAX_LENGTH * 4, { message: `Use at most ${PASSWORD_MAX_LENGTH} characters.` })
  .refine((value) => codePoints(value) >= PASSWORD_MIN_LENGTH, {
    message: `Use at least ${PASSWORD_MIN_LENGTH} characters.`,
  })
  .refine((value) => codePoints(value) <= PASSWORD_MAX_LENGTH, {
    message: `Use at most ${PASSWORD_MAX_LENGTH} characters.`,
  });

const codePoints = (value: string) => [...normalizePassword(value)].length;

/**
 * The strength estimate: zxcvbn (`@zxcvbn-ts/core`) with the common dictionaries (about 49,000
 * leaked passwords and the diceware word list) and keyboard layouts of
 * `@zxcvbn-ts/language-common`. Its score runs from 0 to 4; 3 means "safely unguessable:
 * moderate protection from an offline slow-hash attack" (about 10^10 guesses), which is the
 * attack an argon2id hash has to withstand once a database leaks.
 */
const PASSWORD_MIN_SCORE = 3;

/**
 * zxcvbn explores at most this many combinations of look-alike characters ("@" for "a", "0"
 * for "o"). The default (100) let a crafted 128-character password take half a second of CPU;
 * 10 keeps the worst case near 50 ms and still finds the substitutions of real passwords.
 */
const L33T_MAX_SUBSTITUTIONS = 10;

/** zxcvbn's feedback in English; the package ships only the keys. */
const ENGLISH: TranslationKeys = {
  warnings: {
    straightRow: "Straight rows of keys on a keyboard are easy to guess.",
    keyPattern: "Short keyboard patterns are easy to guess.",
    simpleRepeat: 'Repeated characters like "aaa" are easy to guess.',
    extendedRepeat: 'Repeated patterns like "abcabcabc" are easy to guess.',
    sequences: 'Common sequences like "abc" or "123" are easy to guess.',
    recentYears: "Recent years are easy to guess.",
    dates: "Dates are easy to guess.",
    topTen: "This is one of the most used passwords.",
    topHundred: "This is a very frequently used password.",
    common: "This is a commonly used password.",
    similarToCommon: "This is similar to a commonly used password.",
    wordByItself: "Single words are easy to guess.",
    namesByThemselves: "Single names or surnames are easy to guess.",
    commonNames: "Common names and surnames are easy to guess.",
    userInputs: "Your name, email address or organisation are easy to guess.",
    pwned: "This password appeared in a data breach.",
  },
  suggestions: {
    l33t: 'Avoid predictable substitutions like "@" for "a".',
    reverseWords: "Avoid common words spelt backwards.",
    allUppercase: "Capitalise some, but not all, letters.",
    capitalization: "Capitalise more than the first letter.",
    dates: "Avoid dates and years associated with you.",
    recentYears: "Avoid recent years.",
    associatedYears: "Avoid years associated with you.",
    sequences: "Avoid common character sequences.",
    repeated: "Avoid repeated words and characters.",
    longerKeyboardPattern: "Use longer keyboard patterns that change direction several times.",
    anotherWord: "Add more words that are less common.",
    useWords: "Use several words, but avoid common phrases.",
    noNeed: "Strong passwords need no symbols, digits or capitals.",
    pwned: "If you use this password elsewhere, change it there too.",
  },
  timeEstimation: {
    ltSecond: "less than a second",
    second: "1 second",
    seconds: "seconds",
    minute: "1 minute",
    minutes: "minutes",
    hour: "1 hour",
    hours: "hours",
    day: "1 day",
    days: "days",
    month: "1 month",
    months: "months",
    year: "1 year",
    years: "years",
    centuries: "centuries",
  },
};

/**
 * Loaded and built at the first estimate, not at start-up: the dictionaries take about 12 MB of
 * an API process's memory and ranking them ~100 ms, for what only sign-ups and password changes
 * need.
 */
let estimator: Promise<ZxcvbnFactory> | undefined;
const strengthEstimator = () => {
  estimator ??= Promise.all([import("@zxcvbn-ts/core"), import("@zxcvbn-ts/language-common")]).then(
    ([{ ZxcvbnFactory }, { adjacencyGraphs, dictionary }]) =>
      new ZxcvbnFactory({
        dictionary,
        graphs: adjacencyGraphs,
        translations: ENGLISH,
        l33tMaxSubstitutions: L33T_MAX_SUBSTITUTIONS,
      }),
  );
  return estimator;
};

/** What the account's owner is known by: words an attacker of that account tries first. */
export interface PasswordOwner {
  readonly email: string;
  readonly name: string;
  /** The tenant's name, at registration. */
  readonly organisation?: string | undefined;
}

/**
 * Why `password` is too easy to guess for `owner` (zxcvbn's warning and suggestions, in
 * English), or undefined when its score reaches `PASSWORD_MIN_SCORE`. The email address, the
 * name and the organisation, whole and word by word, count as dictionary words: "Ada
 * Lovelace 1815" is weak for Ada Lovelace. 1 to 4 ms a call; ~50 ms at worst.
 */
export async function passwordWeakness(
  password: string,
  owner: PasswordOwner,
): Promise<string | undefined> {
  const { score, feedback } = (await strengthEstimator()).check(
    normalizePassword(password),
    ownerWords(owner),
  );
  if (score >= PASSWORD_MIN_SCORE) return undefined;
  const advice = [feedback.warning, ...feedback.suggestions].filter(Boolean);
  return advice.length > 0 ? advice.join(" ") : ENGLISH.suggestions.anotherWord;
}

function ownerWords(owner: PasswordOwner): string[] {
  const wholes = [owner.email, owner.name, owner.organisation ?? ""].map((each) =>
    each.normalize("NFC").toLowerCase(),
  );
  const words = wholes.flatMap((whole) => whole.split(/[^\p{L}\p{N}]+/u));
  // Words of one or two letters would match everywhere and say nothing about the owner.
  return [...new Set([...wholes, ...words])].filter((word) => [...word].length >= 3);
}

/** A new password too easy to guess for its owner answers 422 on `field`, saying why. */
export async function requireStrongPassword(
  field: string,
  password: string,
  owner: PasswordOwner,
): Promise<void> {
  const weakness = await passwordWeakness(password, owner);
  if (weakness) {
    throw new AppError("validation-failed", `The password is too easy to guess. ${weakness}`, {
      errors: [{ field, message: weakness }],
    });
  }
}
