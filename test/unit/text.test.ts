import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  displayName,
  findUnstorableText,
  multilineText,
  toDisplayName,
  unstorableReason,
} from "../../src/core/http/text.js";

const issuesOf = (schema: z.ZodType, value: unknown) =>
  schema.safeParse(value).error?.issues.map((issue) => issue.message) ?? [];

describe("storable text", () => {
  it.each([
    ["plain text", "Hello", undefined],
    ["a surrogate pair (an emoji)", "\u{1F680} launch", undefined],
    ["a NUL", "a\u0000b", "must not contain U+0000 (NUL)"],
    ["a high surrogate alone", "a\ud800b", "must not contain an unpaired UTF-16 surrogate"],
    ["a low surrogate alone", "\udc00", "must not contain an unpaired UTF-16 surrogate"],
    ["two high surrogates", "\ud83d\ud83d", "must not contain an unpaired UTF-16 surrogate"],
  ])("%s", (_, text, reason) => {
    expect(unstorableReason(text)).toBe(reason);
  });

  it("finds every unstorable string in a value, with its path, keys escaped", () => {
    const value = {
      name: "ok",
      tags: ["fine", "bad\u0000", { deep: "\ud800" }],
      "key\u0000": "whatever",
      count: 3,
      flag: null,
    };
    expect(findUnstorableText(value)).toEqual([
      { path: ["tags", 1], message: "must not contain U+0000 (NUL)" },
      { path: ["tags", 2, "deep"], message: "must not contain an unpaired UTF-16 surrogate" },
      { path: ["key\\u0000"], message: "is a field name that must not contain U+0000 (NUL)" },
    ]);
    expect(findUnstorableText("top\u0000")).toEqual([
      { path: [], message: "must not contain U+0000 (NUL)" },
    ]);
    expect(findUnstorableText({ fine: ["a", { b: "c" }] })).toEqual([]);
  });

  it("stops at the limit and survives a deeply nested value", () => {
    expect(
      findUnstorableText(
        Array.from({ length: 100 }, () => "\u0000"),
        5,
      ),
    ).toHaveLength(5);
    let nested: unknown = "\u0000";
    for (let depth = 0; depth < 100_000; depth++) nested = [nested];
    const [found] = findUnstorableText(nested);
    // The path is cut, so the answer does not grow with the nesting.
    expect(found?.path).toEqual([...Array.from({ length: 32 }, () => 0), "…"]);
  });
});

describe("displayName", () => {
  const name = displayName({ max: 10 });

  it("trims and NFC-normalises", () => {
    expect(name.parse("  Cafe\u0301  ")).toBe("Caf\u00e9");
    expect(name.parse("\u00a0Ana\u3000")).toBe("Ana");
    // NFC, not NFKC: compatibility characters stay what they are.
    expect(name.parse("\ufb01le")).toBe("\ufb01le");
  });

  it("counts the length after normalisation", () => {
    expect(name.parse(`${"e\u0301".repeat(10)}`)).toBe("\u00e9".repeat(10));
    expect(issuesOf(name, "x".repeat(11))).toEqual(["must be at most 10 characters"]);
    expect(issuesOf(name, "   ")).toEqual(["must not be empty"]);
  });

  it.each([
    ["a NUL", "a\u0000b", "must not contain control characters (found U+0000)"],
    ["a bell", "a\u0007b", "must not contain control characters (found U+0007)"],
    ["a tab", "a\tb", "must not contain control characters (found U+0009)"],
    ["a C1 control", "a\u009bb", "must not contain control characters (found U+009B)"],
    ["a line feed", "a\nb", "must be a single line (found U+000A)"],
    ["a carriage return", "a\rb", "must be a single line (found U+000D)"],
    ["a next line", "a\u0085b", "must be a single line (found U+0085)"],
    ["a line separator", "a\u2028b", "must be a single line (found U+2028)"],
    ["a paragraph separator", "a\u2029b", "must be a single line (found U+2029)"],
    ["a right-to-left override", "a\u202eb", "formatting characters (found U+202E)"],
    ["a left-to-right embedding", "a\u202ab", "formatting characters (found U+202A)"],
    ["a right-to-left isolate", "a\u2067b", "formatting characters (found U+2067)"],
    ["a pop directional isolate", "a\u2069b", "formatting characters (found U+2069)"],
    ["a right-to-left mark", "a\u200fb", "formatting characters (found U+200F)"],
    ["a zero-width space", "a\u200bb", "formatting characters (found U+200B)"],
    ["a zero-width joiner", "a\u200db", "formatting characters (found U+200D)"],
    ["a zero-width non-joiner", "a\u200cb", "formatting characters (found U+200C)"],
    ["a word joiner", "a\u2060b", "formatting characters (found U+2060)"],
    ["a byte-order mark inside", "a\ufeffb", "formatting characters (found U+FEFF)"],
    ["a soft hyphen", "a\u00adb", "formatting characters (found U+00AD)"],
    ["a tag character", "a\u{E0041}b", "formatting characters (found U+E0041)"],
    ["an unpaired surrogate", "a\ud800b", "must not contain an unpaired UTF-16 surrogate"],
  ])("refuses %s, naming it", (_, value, message) => {
    const [issue, ...rest] = issuesOf(name, value);
    expect(issue).toContain(message);
    expect(rest).toEqual([]);
  });

  it("accepts letters, marks, symbols and inner spaces of every script", () => {
    for (const value of ["Zoë O'Neil", "李小龍", "محمد", "Ñandú 🚀", "a\u00a0b", "x\u0301"]) {
      expect(name.safeParse(value).success, value).toBe(true);
    }
  });

  it("may allow the empty string", () => {
    const optionalText = displayName({ max: 5, min: 0 });
    expect(optionalText.parse("  ")).toBe("");
    expect(issuesOf(optionalText, "a\u200bb")).toHaveLength(1);
  });

  it("documents itself in OpenAPI as a plain string with its lengths", () => {
    expect(z.toJSONSchema(displayName({ max: 64 }), { io: "input" })).toMatchObject({
      type: "string",
      minLength: 1,
      maxLength: 64,
    });
    expect(z.toJSONSchema(multilineText({ max: 2000 }), { io: "input" })).toMatchObject({
      type: "string",
      maxLength: 2000,
    });
  });
});

describe("multilineText", () => {
  const text = multilineText({ max: 50 });

  it("keeps line feeds and turns CR LF and CR into them", () => {
    expect(text.parse(" one\r\ntwo\rthree\n\nfour ")).toBe("one\ntwo\nthree\n\nfour");
  });

  it.each([
    ["a tab", "a\tb", "control characters (found U+0009)"],
    ["a line separator", "a\u2028b", "must break lines with U+000A only (found U+2028)"],
    ["a vertical tab", "a\u000bb", "must break lines with U+000A only (found U+000B)"],
    ["a right-to-left override", "a\u202eb", "formatting characters (found U+202E)"],
    ["a zero-width space", "a\u200bb", "formatting characters (found U+200B)"],
    ["a NUL", "a\u0000b", "control characters (found U+0000)"],
  ])("refuses %s", (_, value, message) => {
    expect(issuesOf(text, value)).toEqual([expect.stringContaining(message)]);
  });
});

describe("toDisplayName", () => {
  it.each([
    ["Grace\u202E Hopper", "Grace Hopper"],
    ["Ada\r\nLovelace", "Ada Lovelace"],
    ["  zero\u200Bwidth\u0000  ", "zerowidth"],
    ["Jose\u0301", "Jos\u00e9"],
    ["\t\u2028", ""],
  ])("makes %j displayable as %j", (input, expected) => {
    expect(toDisplayName(input, 200)).toBe(expected);
  });

  it("cuts at the limit without splitting a surrogate pair", () => {
    expect(toDisplayName("ab😀cd", 3)).toBe("ab😀");
  });

  it("gives what displayName accepts", () => {
    const schema = displayName({ max: 10 });
    expect(schema.safeParse(toDisplayName("A\u202Eb\nc\u0007d efghijklmn", 10)).success).toBe(true);
  });
});
