import { z } from "zod";

/**
 * Text the kit accepts, in two layers.
 *
 * 1. Every string of every request (body, query string, path parameters), whatever the route's
 *    schema, must be storable: PostgreSQL refuses U+0000 in text (SQLSTATE 22021) and an
 *    unpaired UTF-16 surrogate is either turned into U+FFFD on its way to UTF-8 or refused inside
 *    jsonb (22P02). The validator compiler (validation.ts) refuses both with 422.
 * 2. Text that people read (display names, descriptions) is NFC-normalised, trimmed, and holds
 *    no control characters, no invisible or text-direction formatting characters (bidi overrides
 *    and isolates, zero-width spaces and joiners, the byte-order mark) and no line breaks, so a
 *    name cannot pass for another or reorder what is shown around it. `displayName` and
 *    `multilineText` build those schemas.
 */

/** U+0000, or half of a surrogate pair without its other half. */
const UNSTORABLE = /\0|\p{Cs}/u;

/** Why `text` cannot be stored, or undefined when it can. */
export function unstorableReason(text: string): string | undefined {
  const found = UNSTORABLE.exec(text)?.[0];
  if (found === undefined) return undefined;
  return found === "\0"
    ? "must not contain U+0000 (NUL)"
    : "must not contain an unpaired UTF-16 surrogate";
}

export interface UnstorableText {
  /** Where the string is: object keys and array indexes from the top, at most 32 of them. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** A place in a value being walked: its parent's place and its own key there. */
interface Place {
  readonly parent: Place | undefined;
  readonly key: string | number;
}

/** Deeper paths are cut here and end in "…", so a field name never grows with the body. */
const MAX_PATH_DEPTH = 32;

const pathOf = (place: Place | undefined): (string | number)[] => {
  const path: (string | number)[] = [];
  for (let at = place; at; at = at.parent) path.push(at.key);
  path.reverse();
  return path.length > MAX_PATH_DEPTH ? [...path.slice(0, MAX_PATH_DEPTH), "…"] : path;
};

/**
 * Every string (values and object keys) in `value` that cannot be stored, at most `limit` of
 * them, in document order. Iterative, and linear in the size of the value, so a deeply nested
 * body cannot exhaust the stack or the CPU.
 */
export function findUnstorableText(value: unknown, limit = 20): UnstorableText[] {
  const found: UnstorableText[] = [];
  // A key's own problem waits on the stack too, so the findings come in document order.
  const pending: ({ value: unknown; place: Place | undefined } | { keyIssue: UnstorableText })[] = [
    { value, place: undefined },
  ];
  while (pending.length > 0 && found.length < limit) {
    const entry = pending.pop() as (typeof pending)[number];
    if ("keyIssue" in entry) {
      found.push(entry.keyIssue);
      continue;
    }
    const { value: next, place } = entry;
    if (typeof next === "string") {
      const message = unstorableReason(next);
      if (message) found.push({ path: pathOf(place), message });
    } else if (Array.isArray(next)) {
      for (let index = next.length - 1; index >= 0; index--) {
        pending.push({ value: next[index], place: { parent: place, key: index } });
      }
    } else if (next !== null && typeof next === "object") {
      const entries = Object.entries(next);
      for (let index = entries.length - 1; index >= 0; index--) {
        const [key, item] = entries[index] as [string, unknown];
        const keyMessage = unstorableReason(key);
        if (keyMessage) {
          // The key itself is reported, escaped, so the answer carries no NUL of its own.
          pending.push({
            keyIssue: {
              path: pathOf({ parent: place, key: escaped(key) }),
              message: `is a field name that ${keyMessage}`,
            },
          });
        } else {
          pending.push({ value: item, place: { parent: place, key } });
        }
      }
    }
  }
  return found.slice(0, limit);
}

/** `key` with its unstorable characters written as \uXXXX escapes. */
const escaped = (key: string): string =>
  key.replace(/\0|\p{Cs}/gu, (character) => `\\u${codePointHex(character)}`);

const codePointHex = (character: string): string =>
  (character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");

/** LF, CR, next line, line and paragraph separators, vertical tab, form feed. */
const LINE_BREAK = /[\n\r\v\f\u0085\u2028\u2029]/u;

/** Characters no displayed text may hold: controls, formatting, line or paragraph separators. */
const NOT_DISPLAYABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/** Why `text` cannot be displayed safely (the first offending character, named), or undefined. */
function undisplayableReason(
  text: string,
  { lineFeeds }: { lineFeeds: boolean },
): string | undefined {
  const pattern = lineFeeds ? /[^\n\P{Cc}]|[\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u : NOT_DISPLAYABLE;
  const found = pattern.exec(text)?.[0];
  if (found === undefined) return undefined;
  const named = `U+${codePointHex(found)}`;
  if (/\p{Cs}/u.test(found)) return "must not contain an unpaired UTF-16 surrogate";
  if (LINE_BREAK.test(found)) {
    return lineFeeds
      ? `must break lines with U+000A only (found ${named})`
      : `must be a single line (found ${named})`;
  }
  if (/\p{Cf}/u.test(found)) {
    return `must not contain invisible or text-direction formatting characters (found ${named})`;
  }
  return `must not contain control characters (found ${named})`;
}

/**
 * A name people read: trimmed, NFC-normalised, one line, no control or formatting characters,
 * `min` (default 1) to `max` characters. In the OpenAPI document it is a plain string with
 * minLength and maxLength.
 */
export function displayName({ max, min = 1 }: { max: number; min?: number }) {
  const schema = z
    .string()
    .trim()
    .normalize("NFC")
    .superRefine((text, context) => {
      const message = undisplayableReason(text, { lineFeeds: false });
      if (message) context.addIssue({ code: "custom", message });
    })
    .max(max, `must be at most ${max} characters`);
  return min > 0
    ? schema.min(min, min === 1 ? "must not be empty" : `must be at least ${min} characters`)
    : schema;
}

/**
 * Free text people read, such as a description: like `displayName`, but it may span lines.
 * CR LF and lone CR become LF; LF is the only control character kept.
 */
export function multilineText({ max }: { max: number }) {
  return z
    .string()
    .overwrite((text) => text.replace(/\r\n?/g, "\n"))
    .trim()
    .normalize("NFC")
    .superRefine((text, context) => {
      const message = undisplayableReason(text, { lineFeeds: true });
      if (message) context.addIssue({ code: "custom", message });
    })
    .max(max, `must be at most ${max} characters`);
}

/**
 * Text on one line, for showing: NFC, format characters (bidi overrides and isolates,
 * zero-width characters) and lone surrogates removed, controls and line breaks made spaces,
 * runs of spaces made one, trimmed. Mail templates and names from identity providers use it.
 */
export function oneLineText(text: string): string {
  return text
    .normalize("NFC")
    .replace(/[\p{Cf}\p{Cs}]/gu, "")
    .replace(/[\s\p{Cc}\p{Zl}\p{Zp}]+/gu, " ")
    .trim();
}

/**
 * A name that came from elsewhere (an identity provider's profile) made displayable rather than
 * refused: `oneLineText` with NUL dropped rather than made a space, cut to `max` characters.
 * The result passes `displayName({ max })`, or is empty.
 */
export function toDisplayName(text: string, max: number): string {
  // Cut by code points, so no surrogate pair is split.
  return Array.from(oneLineText(text.replaceAll("\0", "")))
    .slice(0, max)
    .join("")
    .trim();
}
