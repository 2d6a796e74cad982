import { describe, expect, it } from "vitest";
import { nextFreeSlug, slugify } from "../../src/modules/tenants/slug.js";

describe("slugify", () => {
  it.each([
    ["Acme Corporation", "acme-corporation"],
    ["  Ärzte & Co. GmbH  ", "arzte-co-gmbh"],
    ["Crème brûlée!!!", "creme-brulee"],
    ["---", "tenant"],
    ["日本語", "tenant"],
    ["a".repeat(60), "a".repeat(48)],
    [`${"word-".repeat(9)}x`, "word-word-word-word-word-word-word-word-word-x"],
  ])("%j -> %j", (name, slug) => {
    expect(slugify(name)).toBe(slug);
  });

  it("never ends with a dash after truncation", () => {
    expect(slugify(`${"a".repeat(47)} b`)).toBe("a".repeat(47));
  });
});

describe("nextFreeSlug", () => {
  it("keeps a free slug and numbers taken ones from 2", () => {
    expect(nextFreeSlug("acme", new Set())).toBe("acme");
    expect(nextFreeSlug("acme", new Set(["acme"]))).toBe("acme-2");
    expect(nextFreeSlug("acme", new Set(["acme", "acme-2", "acme-3"]))).toBe("acme-4");
    expect(nextFreeSlug("acme", new Set(["acme", "acme-3"]))).toBe("acme-2");
  });
});
