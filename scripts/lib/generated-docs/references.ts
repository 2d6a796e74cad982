import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { z } from "zod";
import { schemaDefault } from "./environment.js";

/**
 * Checks of the hand-written references that repeat what the code holds: they stay prose,
 * but they may not leave anything out or state another default.
 */

type EnvironmentSchema = z.ZodObject<Record<string, z.ZodType>>;

/**
 * docs/configuration.md explains every variable in a `variable | default | meaning` table:
 * each variable the schema reads has a row, no row names a variable it does not read, and a
 * row's default starts with the schema's default where the schema has one. .env.example
 * names every variable (set or commented out) and no other, with the schema's default as its
 * value where the schema has one.
 */
export function configurationProblems(
  schema: EnvironmentSchema,
  reference: string,
  envExample: string,
): string[] {
  const problems: string[] = [];
  const rows = new Map<string, string>();
  let inVariableTable = false;
  for (const line of reference.split("\n")) {
    if (!line.startsWith("|")) {
      inVariableTable = false;
      continue;
    }
    const cells = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((cell) => cell.trim());
    if (cells[0] === "variable") {
      inVariableTable = cells.length === 3 && cells[2] === "meaning";
      continue;
    }
    const name = /^`([A-Z0-9_]+)`$/.exec(cells[0] ?? "")?.[1];
    if (inVariableTable && name) rows.set(name, cells[1] ?? "");
  }
  const examples = new Map<string, string[]>();
  for (const [, name, value] of envExample.matchAll(/^(?:# ?)?([A-Z][A-Z0-9_]*)=(.*)$/gm)) {
    examples.set(name as string, [...(examples.get(name as string) ?? []), value as string]);
  }
  for (const [name, variable] of Object.entries(schema.shape)) {
    const fromSchema = schemaDefault(variable);
    const row = rows.get(name);
    if (row === undefined) {
      problems.push(`docs/configuration.md has no row for ${name}`);
    } else if (fromSchema !== undefined && !row.startsWith(`\`${String(fromSchema)}\``)) {
      problems.push(
        `docs/configuration.md gives ${name} the default ${row}; the schema's is \`${String(fromSchema)}\``,
      );
    }
    const values = examples.get(name);
    if (values === undefined) {
      problems.push(`.env.example does not name ${name}`);
    } else if (fromSchema !== undefined && !values.includes(String(fromSchema))) {
      problems.push(
        `.env.example gives ${name} ${values.join(" and ")}; the schema's default is ${String(fromSchema)}`,
      );
    }
  }
  for (const name of examples.keys()) {
    if (!(name in schema.shape)) {
      problems.push(`.env.example names ${name}, which src/config.ts does not read`);
    }
  }
  for (const name of rows.keys()) {
    if (!(name in schema.shape)) {
      problems.push(
        `docs/configuration.md has a row for ${name}, which src/config.ts does not read`,
      );
    }
  }
  return problems;
}

/** An entry of the layout tree: its path and the text describing it. */
function layoutEntries(layout: string): Map<string, string> {
  const entries = new Map<string, string>();
  const parents: { depth: number; path: string }[] = [];
  let current: string | undefined;
  for (const line of layout.split("\n")) {
    const indent = line.length - line.trimStart().length;
    const text = line.trim();
    if (text === "") continue;
    // Descriptions start at a column of their own; a line starting that far in continues one.
    if (indent >= 20 && current !== undefined) {
      entries.set(current, `${entries.get(current)} ${text}`);
      continue;
    }
    const [name = "", ...rest] = text.split(/\s+/);
    while (parents.length > 0 && (parents.at(-1) as { depth: number }).depth >= indent) {
      parents.pop();
    }
    current = `${parents.at(-1)?.path ?? ""}${name}`;
    entries.set(current, rest.join(" "));
    if (name.endsWith("/")) parents.push({ depth: indent, path: current });
  }
  return entries;
}

const sourceFiles = (root: string, folder: string) =>
  readdirSync(join(root, folder), { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts") && entry.name !== "index.ts")
    .map((entry) => entry.name);

const folders = (root: string, folder: string) =>
  readdirSync(join(root, folder), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `${folder}/${entry.name}`);

/**
 * The README's project layout names every source file outside the feature modules (which
 * their generated table lists): the top-level files of src/, every file of each src/core/
 * folder and of src/api/ and src/app/, the scripts and the test helpers. A folder's entry names
 * its files; index.ts files, the folders' public faces, go without saying. The folders of
 * scripts/lib/ need only an entry: they serve one script each.
 */
export function layoutProblems(root: string, readme: string): string[] {
  const section = readme.slice(readme.indexOf("## Project layout"));
  const block = /```\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) return ["README.md has no project layout block under ## Project layout"];
  const entries = layoutEntries(block);
  const problems: string[] = [];
  for (const file of sourceFiles(root, "src")) {
    if (!entries.has(`src/${file}`)) problems.push(`README's project layout lacks src/${file}`);
  }
  const described = [...folders(root, "src/core"), "src/api", "src/app", "scripts", "test/helpers"];
  for (const folder of [...described, ...folders(root, "scripts/lib")]) {
    const text = entries.get(`${folder}/`);
    if (text === undefined) {
      problems.push(`README's project layout lacks ${folder}/`);
      continue;
    }
    if (!described.includes(folder)) continue;
    for (const file of sourceFiles(root, folder)) {
      if (!new RegExp(`(^|[\\s(,])${file.replaceAll(".", "\\.")}\\b`).test(text)) {
        problems.push(`README's project layout lacks ${folder}/${file}`);
      }
    }
  }
  for (const [path, text] of entries) {
    if (!path.endsWith("/") || !path.startsWith("src/core/")) continue;
    const present = new Set(readdirSyncSafe(join(root, path)));
    for (const named of text.matchAll(/(?<![\w/.-])([\w.-]+\.ts)\b/g)) {
      if (!present.has(named[1] as string)) {
        problems.push(`README's project layout names ${path}${named[1]}, which does not exist`);
      }
    }
  }
  return problems;
}

function readdirSyncSafe(folder: string): string[] {
  try {
    return readdirSync(folder);
  } catch {
    return [];
  }
}

export const readText = (root: string, path: string) => readFileSync(join(root, path), "utf8");
