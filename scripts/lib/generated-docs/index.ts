import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { environmentSchema } from "../../../src/config.js";
import { environmentNames, modulesList } from "./agents.js";
import { commands, commandsProblems, commandsTable } from "./commands.js";
import { documentsList } from "./documents.js";
import { environmentTable } from "./environment.js";
import { formatSections, replaceSection, sectionsOf } from "./markdown.js";
import { migrationEntries, migrationsTable } from "./migrations.js";
import {
  defaultModuleEntries,
  defaultModulesSnippet,
  moduleDependenciesList,
  modulesTable,
} from "./modules.js";
import { defaultRolesTable, permissionsTable } from "./permissions.js";
import { configurationProblems, layoutProblems, readText } from "./references.js";
import { committedSnapshots, sqlSnapshots } from "./sql-snapshots.js";

/**
 * Everything in the docs that is derived from the code: the generated sections of README.md,
 * AGENTS.md, llms.txt and docs/*.md, the SQL snapshots beside the repositories, and the checks
 * of the references that stay hand-written. `npm run docs:generate` writes it, `npm run docs:check` and
 * test/unit/generated-docs.test.ts compare it with what is committed.
 */

export const REPOSITORY_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Sections these documents must hold; the others may hold any of the known ones. */
const REQUIRED_SECTIONS: Readonly<Record<string, readonly string[]>> = {
  "README.md": ["modules", "migrations", "environment", "documents"],
  // The context file of AI coding assistants, and the index of the docs for language models.
  "AGENTS.md": ["commands", "module-list", "environment-names", "documents"],
  "llms.txt": ["documents"],
};

/** The Markdown files that may hold generated sections. */
function documents(root: string): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((file) => file.endsWith(".md"))
    .map((file) => `docs/${file}`);
  return ["README.md", "AGENTS.md", "llms.txt", ...docs.sort()];
}

export interface GeneratedDocs {
  /** Path (relative to the root) to the content the code produces. */
  readonly files: ReadonlyMap<string, string>;
  /** Committed snapshots the code no longer produces. */
  readonly stale: readonly string[];
  /** Hand-written references that leave something out or contradict the code. */
  readonly problems: readonly string[];
}

export async function generateDocs(root: string = REPOSITORY_ROOT): Promise<GeneratedDocs> {
  const modules = defaultModuleEntries(root);
  const scripts = commands(root);
  const sections = formatSections(
    new Map([
      ["modules", modulesTable(modules)],
      ["module-list", modulesList(modules)],
      ["commands", commandsTable(scripts)],
      ["environment-names", environmentNames(environmentSchema)],
      ["documents", documentsList(root)],
      ["migrations", migrationsTable(migrationEntries(root))],
      ["environment", environmentTable(environmentSchema)],
      ["default-modules", defaultModulesSnippet(modules, "projectsModule")],
      ["module-dependencies", moduleDependenciesList(root)],
      ["default-roles", defaultRolesTable()],
      ["permissions", permissionsTable()],
    ]),
  );
  const files = new Map<string, string>();
  for (const path of documents(root)) {
    const current = readText(root, path);
    const held = sectionsOf(current);
    const missing = (REQUIRED_SECTIONS[path] ?? []).filter((name) => !held.includes(name));
    if (missing.length > 0) throw new Error(`${path} lacks the sections ${missing.join(", ")}`);
    if (held.length === 0) continue;
    let document = current;
    for (const name of held) {
      const content = sections.get(name);
      if (content === undefined) throw new Error(`${path} holds an unknown section "${name}"`);
      document = replaceSection(document, path, name, content);
    }
    files.set(path, document);
  }
  const snapshots = await sqlSnapshots(root);
  for (const [path, content] of snapshots) files.set(path, content);
  const stale = committedSnapshots(root).filter((path) => !snapshots.has(path));
  const problems = [
    ...configurationProblems(
      environmentSchema,
      readText(root, "docs/configuration.md"),
      readText(root, ".env.example"),
    ),
    ...layoutProblems(root, files.get("README.md") ?? readText(root, "README.md")),
    ...commandsProblems(
      scripts.map((command) => command.script),
      readText(root, "justfile"),
      files.get("README.md") ?? readText(root, "README.md"),
    ),
  ];
  return { files, stale, problems };
}

/** The generated files whose committed content differs, and the stale ones. */
export function differences(root: string, generated: GeneratedDocs): string[] {
  const differing = [...generated.files]
    .filter(([path, content]) => !existsSync(join(root, path)) || readText(root, path) !== content)
    .map(([path]) => path);
  return [...differing, ...generated.stale];
}
