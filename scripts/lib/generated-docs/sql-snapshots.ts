import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { is, Param, Placeholder } from "drizzle-orm";
import { ENTER_TENANT_SQL } from "../../../src/core/database/database.js";
import {
  type PreparedStatementSource,
  preparedStatements,
} from "../../../src/core/database/statements.js";

/**
 * The SQL of every prepared statement, written next to the file that prepares it
 * (`items.repository.ts` -> `items.repository.sql`), so a change to a query shows its SQL in
 * the same review, in the module that owns it. See docs/architecture.md#sql-snapshots.
 */

const PREPARE_CALL = /prepareStatement\(\s*(?:"([^"]+)")?/g;

/** Files under src/ that call prepareStatement, and the literal labels they give, in order. */
function preparingFiles(root: string): Map<string, string[]> {
  const files = new Map<string, string[]>();
  const visit = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
        const relativePath = relative(root, path);
        if (relativePath === "src/core/database/statements.ts") continue;
        const labels: string[] = [];
        for (const match of readFileSync(path, "utf8").matchAll(PREPARE_CALL)) {
          if (match[1] === undefined) {
            throw new Error(`${relativePath}: prepareStatement's label must be a string literal`);
          }
          labels.push(match[1]);
        }
        if (labels.length > 0) files.set(relativePath, labels);
      }
    }
  };
  visit(join(root, "src"));
  return files;
}

/** How a parameter is filled: a named placeholder, or a value fixed in the statement. */
function describeParameter(parameter: unknown): string {
  if (is(parameter, Placeholder)) return `:${parameter.name}`;
  if (is(parameter, Param) && is(parameter.value, Placeholder)) return `:${parameter.value.name}`;
  return JSON.stringify(parameter);
}

const HEADER = [
  "-- The SQL of the statements prepared in {source}, as sent to PostgreSQL.",
  "-- Written by `npm run docs:generate`; test/unit/generated-docs.test.ts fails when it differs.",
];

type Statement = Pick<PreparedStatementSource, "label" | "text"> & {
  readonly params?: readonly unknown[];
};

function snapshot(source: string, statements: readonly Statement[]): string {
  const blocks = statements.map(({ label, text, params }) => {
    const lines = [`-- ${label}`];
    if (params && params.length > 0) {
      lines.push(
        `-- ${params.map((p, index) => `$${index + 1} ${describeParameter(p)}`).join(", ")}`,
      );
    }
    lines.push(`${text};`);
    return lines.join("\n");
  });
  const header = HEADER.map((line) => line.replace("{source}", source.split("/").pop() as string));
  return `${[header.join("\n"), ...blocks].join("\n\n")}\n`;
}

/** The path of a source file's snapshot: beside it, `.ts` replaced by `.sql`. */
const snapshotPath = (source: string) => source.replace(/\.ts$/, ".sql");

/**
 * Every snapshot, by path relative to `root`: the statements each file prepares (imported, so
 * they register themselves in statements.ts's list), and ENTER_TENANT_SQL, which the drivers
 * run before every tenant statement, in database.ts's.
 */
export async function sqlSnapshots(root: string): Promise<Map<string, string>> {
  const files = preparingFiles(root);
  for (const path of files.keys()) await import(pathToFileURL(join(root, path)).href);
  const prepared = new Map<string, PreparedStatementSource>();
  for (const statement of preparedStatements()) {
    if (prepared.has(statement.label)) {
      throw new Error(`Two statements are prepared with the label ${statement.label}`);
    }
    prepared.set(statement.label, statement);
  }
  const snapshots = new Map<string, string>();
  const attributed = new Set<string>();
  for (const [path, labels] of files) {
    const statementsOfFile = labels.map((label) => {
      const statement = prepared.get(label);
      if (!statement) throw new Error(`${path}: the statement ${label} was not prepared at load`);
      if (attributed.has(label)) throw new Error(`${path}: the label ${label} is used twice`);
      attributed.add(label);
      return statement;
    });
    snapshots.set(snapshotPath(path), snapshot(path, statementsOfFile));
  }
  const unattributed = [...prepared.keys()].filter((label) => !attributed.has(label));
  if (unattributed.length > 0) {
    throw new Error(`Statements prepared outside src/: ${unattributed.join(", ")}`);
  }
  const database = "src/core/database/database.ts";
  snapshots.set(
    snapshotPath(database),
    snapshot(database, [{ label: "enter_tenant (ENTER_TENANT_SQL)", text: ENTER_TENANT_SQL }]),
  );
  return snapshots;
}

/** The snapshot files committed under src/, whether or not the code still produces them. */
export function committedSnapshots(root: string): string[] {
  const found: string[] = [];
  const visit = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith(".sql")) found.push(relative(root, path));
    }
  };
  visit(join(root, "src"));
  return found.sort();
}
