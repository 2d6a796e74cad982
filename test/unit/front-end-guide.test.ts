import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CLIENT_FOLDER } from "../../scripts/lib/client/generate.js";
import { GUIDE_FILE, snippetPaths, withSnippets } from "../../scripts/lib/client/snippets.js";

/**
 * docs/front-end.md shows the client's examples, which the client test compiles and runs: the
 * guide shows each of them, whole and as it is (`npm run client` writes them into it).
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const guide = readFileSync(join(ROOT, GUIDE_FILE), "utf8");

describe("the front-end guide", () => {
  it("shows every example of the client, and nothing else", () => {
    const examples = readdirSync(join(ROOT, CLIENT_FOLDER, "examples")).map(
      (file) => `${CLIENT_FOLDER}/examples/${file}`,
    );
    expect([...snippetPaths(guide)].sort()).toEqual(examples.sort());
  });

  it("shows each example as the file is (run `npm run client` after changing one)", () => {
    expect(withSnippets(guide, ROOT)).toBe(guide);
  });

  it("fails when a snippet differs from its file", () => {
    const edited = guide.replace("return api.restore();", "return null;");
    expect(edited).not.toBe(guide);
    expect(withSnippets(edited, ROOT)).toBe(guide);
  });
});
