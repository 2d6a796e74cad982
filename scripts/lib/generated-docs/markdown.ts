import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";

/** A Markdown table; Biome pads the columns when the file is formatted. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]) {
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell) => cell.replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

const begin = (name: string) => `<!-- generated:${name} (npm run docs:generate) -->`;
const end = (name: string) => `<!-- /generated:${name} -->`;

/**
 * Replaces what stands between a generated section's two marker comments. The markers must
 * be there already, once each: where a section goes is the document's choice.
 */
export function replaceSection(document: string, path: string, name: string, content: string) {
  const start = document.indexOf(begin(name));
  const stop = document.indexOf(end(name));
  if (start < 0 || stop < start || document.indexOf(begin(name), start + 1) >= 0) {
    throw new Error(
      `${path} must hold the generated section "${name}" once, between\n${begin(name)}\nand\n${end(name)}`,
    );
  }
  return `${document.slice(0, start + begin(name).length)}\n\n${content.trim()}\n\n${document.slice(stop)}`;
}

/** The names of the generated sections a document holds. */
export function sectionsOf(document: string): string[] {
  return [...document.matchAll(/<!-- generated:([a-z-]+) \(npm run docs:generate\) -->/g)].map(
    (match) => match[1] as string,
  );
}

const biome = createRequire(import.meta.url).resolve("@biomejs/biome/bin/biome");

/**
 * Formats each section's Markdown as `biome check --write` would in any document (tables,
 * lists and code blocks format the same wherever they stand), so the generated docs pass lint
 * as written. One Biome run for all of them: each costs a process start.
 */
export function formatSections(sections: ReadonlyMap<string, string>): Map<string, string> {
  const separator = (name: string) => `<!-- section:${name} -->`;
  const joined = [...sections]
    .map(([name, content]) => `${separator(name)}\n\n${content.trim()}\n`)
    .join("\n");
  const formatted = execFileSync(process.execPath, [biome, "format", "--stdin-file-path=docs.md"], {
    input: joined,
    encoding: "utf8",
    stdio: ["pipe", "pipe", "pipe"],
  });
  const result = new Map<string, string>();
  const names = [...sections.keys()];
  names.forEach((name, position) => {
    const start = formatted.indexOf(separator(name)) + separator(name).length;
    const next = names[position + 1];
    const stop = next === undefined ? formatted.length : formatted.indexOf(separator(next));
    result.set(name, formatted.slice(start, stop).trim());
  });
  return result;
}
