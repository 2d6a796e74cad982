import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The front-end guide (docs/front-end.md) shows the client's examples as they are: a code block
 * right after `<!-- snippet: <path> -->` holds the whole file at that path. The client test
 * compiles and runs those files; `npm run client` writes them into the guide again, and
 * test/unit/front-end-guide.test.ts fails when the guide shows anything else.
 */
export const GUIDE_FILE = "docs/front-end.md";

const SNIPPET = /(<!-- snippet: (\S+) -->\n```ts\n)([\s\S]*?)(```)/g;

/** The guide with every snippet block holding its file's text. */
export function withSnippets(markdown: string, root: string): string {
  return markdown.replace(
    SNIPPET,
    (_block, opening: string, path: string, _code: string, closing: string) =>
      `${opening}${readFileSync(join(root, path), "utf8")}${closing}`,
  );
}

/** The paths the guide's snippets name, in order. */
export function snippetPaths(markdown: string): string[] {
  return [...markdown.matchAll(SNIPPET)].map((match) => match[2] as string);
}
