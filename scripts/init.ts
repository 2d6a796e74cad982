/**
 * Starts a client project from the kit, once, right after cloning:
 *
 *   npm run init -- --name <package-name> [--without-items] [--dir <path>] [--force]
 *
 * - renames the project: package.json and package-lock.json `name`, and every other mention of
 *   the current name (compose project names, image names, Prometheus jobs, the Grafana
 *   dashboard, the default OTEL_SERVICE_NAME, the TypeScript client's scope) in the tracked
 *   files, file names included. A scoped name (@acme/portal) is written as `acme-portal`
 *   wherever npm's rules do not apply (images, compose projects, service names);
 * - writes .env (from .env.example) with a fresh SECRET_KEY and METRICS_TOKEN that
 *   production's configuration check accepts; an existing .env is kept;
 * - with --without-items, removes the example module (see removeItems) and adds the migrations
 *   that drop its table and its grants: migrations already written are never edited;
 * - prints the next steps.
 *
 * It refuses a tree with uncommitted changes and a project already started (package.json's
 * name is no longer the kit's), unless --force; run again with --force it changes only what
 * is not yet as asked. Migrations and node_modules are never touched.
 */
import { execFileSync } from "node:child_process";
import {
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { freshSecrets } from "./lib/secrets.js";

/** The package name this kit is published under; a project renamed from it is "started". */
const KIT_NAME = "agency-saas-kit";

const USAGE = `usage: npm run init -- --name <package-name> [--without-items] [--dir <path>] [--force]
  --name            the client project's npm package name (lowercase, e.g. acme-portal or @acme/portal)
  --without-items   remove the example items module, its tests, its table and grants (new migrations)
  --dir             the project to start (default: the current directory)
  --force           run on uncommitted changes, or on a project already started`;

class UsageError extends Error {}

/** Why `name` is not a valid npm package name (npm's rules for new packages), or undefined. */
function packageNameProblem(name: string): string | undefined {
  if (name.length === 0) return "is empty";
  if (name.length > 214) return "is longer than 214 characters";
  if (name !== name.trim()) return "has leading or trailing spaces";
  if (name !== name.toLowerCase()) return "has capital letters";
  const scoped = /^@([^/]+)\/([^/]+)$/.exec(name);
  if (name.startsWith("@") && !scoped) return "is not of the form @scope/name";
  const parts = scoped ? [scoped[1] as string, scoped[2] as string] : [name];
  for (const part of parts) {
    if (part.startsWith(".") || part.startsWith("_")) return "starts with . or _";
    if (!/^[a-z0-9][a-z0-9._~-]*$/.test(part)) {
      return "may hold only a-z, 0-9, '.', '_', '~' and '-' (and one @scope/)";
    }
  }
  if (["node_modules", "favicon.ico"].includes(name)) return "is a name npm reserves";
  return undefined;
}

/** The name where npm's rules do not apply: image, compose project, service and job names. */
const slugOf = (name: string): string => name.replace(/^@/, "").replace("/", "-");

interface Options {
  name: string;
  withoutItems: boolean;
  dir: string;
  force: boolean;
}

function parseOptions(args: string[]): Options {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      "without-items": { type: "boolean", default: false },
      dir: { type: "string" },
      force: { type: "boolean", default: false },
    },
  });
  if (positionals.length > 0)
    throw new UsageError(`unexpected arguments: ${positionals.join(" ")}`);
  if (values.name === undefined) throw new UsageError("--name is required");
  const problem = packageNameProblem(values.name);
  if (problem) throw new UsageError(`--name ${JSON.stringify(values.name)} ${problem}`);
  return {
    name: values.name,
    withoutItems: values["without-items"],
    dir: resolve(values.dir ?? "."),
    force: values.force,
  };
}

const git = (dir: string, ...args: string[]) =>
  execFileSync("git", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

const isGitTree = (dir: string) => {
  try {
    return git(dir, "rev-parse", "--is-inside-work-tree").trim() === "true";
  } catch {
    return false;
  }
};

/** The project's files: tracked and untracked ones git does not ignore (or every file, without git). */
function projectFiles(dir: string): string[] {
  if (isGitTree(dir)) {
    return git(dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
      .split("\0")
      .filter((file) => file && existsSync(join(dir, file)) && statSync(join(dir, file)).isFile());
  }
  const walk = (relative: string): string[] =>
    readdirSync(join(dir, relative), { withFileTypes: true }).flatMap((entry) => {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if ([".git", "node_modules", "dist", "coverage", ".data"].includes(entry.name)) return [];
      return entry.isDirectory() ? walk(path) : [path];
    });
  return walk("");
}

/** Files never rewritten: history (migrations), lock data (its names are set as JSON), the starter. */
const untouchable = (file: string) =>
  file.startsWith("migrations/") ||
  file === "package-lock.json" ||
  file === "scripts/init.ts" ||
  file.startsWith("bench/results/") ||
  file.startsWith("test/fixtures/");

const isText = (bytes: Buffer) => !bytes.subarray(0, 8000).includes(0);

interface Report {
  changed: Set<string>;
  removed: string[];
  notes: string[];
}

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));
const writeJson = (path: string, value: unknown) =>
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);

function rename(dir: string, from: string, to: string, report: Report): void {
  const fromSlug = slugOf(from);
  const toSlug = slugOf(to);
  const packageJsonPath = join(dir, "package.json");
  const packageJson = readJson(packageJsonPath);
  if (packageJson.name !== to) {
    packageJson.name = to;
    writeJson(packageJsonPath, packageJson);
    report.changed.add("package.json");
  }
  const lockPath = join(dir, "package-lock.json");
  if (existsSync(lockPath)) {
    const lock = readJson(lockPath);
    const root = lock.packages?.[""];
    if (lock.name !== to || (root && root.name !== to)) {
      lock.name = to;
      if (root) root.name = to;
      writeJson(lockPath, lock);
      report.changed.add("package-lock.json");
    }
  }
  if (fromSlug === toSlug) return;
  for (const file of projectFiles(dir)) {
    if (untouchable(file) || file === "package.json") continue;
    const path = join(dir, file);
    const bytes = readFileSync(path);
    if (isText(bytes)) {
      const text = bytes.toString("utf8");
      if (text.includes(fromSlug)) {
        writeFileSync(path, text.split(fromSlug).join(toSlug));
        report.changed.add(file);
      }
    }
    if (file.includes(fromSlug)) {
      const target = file.split(fromSlug).join(toSlug);
      renameSync(path, join(dir, target));
      report.changed.add(`${file} -> ${target}`);
    }
  }
}

function writeEnv(dir: string, report: Report): void {
  const envPath = join(dir, ".env");
  if (isGitTree(dir)) {
    // The secrets must never reach a commit: .env is ignored by the kit's .gitignore.
    try {
      git(dir, "check-ignore", "-q", ".env");
    } catch {
      throw new Error(".env is not ignored by git: add it to .gitignore before running init");
    }
  }
  if (existsSync(envPath)) {
    report.notes.push(".env exists and was kept: its secrets are not replaced");
    return;
  }
  const examplePath = join(dir, ".env.example");
  let text = existsSync(examplePath) ? readFileSync(examplePath, "utf8") : "";
  for (const [variable, value] of Object.entries(freshSecrets())) {
    // The example leaves SECRET_KEY empty and METRICS_TOKEN commented out.
    const line = new RegExp(`^#? ?${variable}=.*$`, "m");
    text = line.test(text)
      ? text.replace(line, `${variable}=${value}`)
      : `${text}\n${variable}=${value}\n`;
  }
  writeFileSync(envPath, text, { mode: 0o600 });
  report.changed.add(".env (new, git-ignored)");
}

/** Where the example module and its tests are, and the marks around lines only it needs. */
const ITEMS_DIR = "src/modules/items";
const ITEMS_TESTS = "test/integration/modules/items";
const ITEMS_BLOCK_START = "// >>> items example";
const ITEMS_BLOCK_END = "// <<< items example";
const IMPORTS_ITEMS = /from "[^"]*\/modules\/items\//;
/** Its files, routes, table in SQL or permissions: a file using or naming the example. */
const USES_ITEMS =
  /modules\/items\/|\/api\/v1\/items|\bitems:(read|create|update|delete|\*)|\b(into|from|table|analyze) (public\.)?"?items\b/;
/** Sentences about the example itself (the default roles' descriptions, the audited tables). */
const DESCRIBES_ITEMS = /\bitems module\b|\b(with|reads) items\b|\(items, /i;

/**
 * Removes the example module: its folder, the lines that import and register it (the module
 * list), the blocks marked `// >>> items example` ... `// <<< items example` (the item factory
 * of the tests, the seed's items and their checks), its tests' folder, its table (a migration
 * drizzle-kit writes) and its grants to the roles of existing tenants (a hand-written one); the
 * generated docs are written again. The kit's own tests and tools do not need the example (the
 * cross-cutting tests use the notes fixture of test/fixtures/, the topology, chaos and soak
 * scripts custom roles), so the project it leaves passes `npm run lint`, `npm run db:check` and
 * `npm test` as it is (test/integration/init-without-items.test.ts). What still names the
 * example is listed, not rewritten: the benchmarks, which measure its read path by design, and
 * prose (docs, comments, descriptions) to adapt to the project's first module.
 */
function removeItems(dir: string, report: Report): void {
  for (const path of [ITEMS_DIR, ITEMS_TESTS]) {
    if (existsSync(join(dir, path))) {
      rmSync(join(dir, path), { recursive: true });
      report.removed.push(path);
    }
  }
  for (const file of projectFiles(dir)) {
    if (untouchable(file) || !file.endsWith(".ts")) continue;
    const path = join(dir, file);
    const text = readFileSync(path, "utf8");
    let next = text.replace(
      new RegExp(
        `^[ \\t]*${escapeRegExp(ITEMS_BLOCK_START)}[^\\n]*\\n[\\s\\S]*?^[ \\t]*${escapeRegExp(ITEMS_BLOCK_END)}[^\\n]*\\n`,
        "gm",
      ),
      "",
    );
    // A removed block leaves no run of blank lines behind.
    if (next !== text) next = next.replace(/\n{3,}/g, "\n\n").replace(/\n+$/, "\n");
    if (file.startsWith("src/")) {
      // The module's import, and its name's own line in the module list.
      for (const match of next.matchAll(
        /^import \{ ([^}]+) \} from "[^"]*\/modules\/items\/index\.js";\n/gm,
      )) {
        next = next.replace(match[0], "");
        for (const name of (match[1] as string).split(",").map((part) => part.trim())) {
          next = next.replace(new RegExp(`^[ \\t]*${escapeRegExp(name)},?[ \\t]*\\n`, "gm"), "");
        }
      }
    }
    if (next !== text) {
      writeFileSync(path, next);
      report.changed.add(file);
    }
  }
  dropItemsTable(dir, report);
  if (existsSync(join(dir, "scripts", "docs.ts"))) {
    // The module tables of README.md and AGENTS.md are generated from the module list.
    try {
      execFileSync(process.execPath, ["--import", "tsx", "scripts/docs.ts"], {
        cwd: dir,
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
      report.notes.push(
        `npm run docs:generate failed; fix what it says, then run it again:\n${stderr}`,
      );
    }
  }
  listWhatNamesItems(dir, report);
}

/**
 * What still names the example after its removal, by kind. The tests are left out: they pass
 * without it (items there is a name in fixture data, e.g. the layer rules' own fixture).
 */
function listWhatNamesItems(dir: string, report: Report): void {
  const files = projectFiles(dir).filter(
    (file) =>
      !untouchable(file) &&
      !file.startsWith("test/") &&
      (/\.(ts|md)$/.test(file) || file === "llms.txt"),
  );
  const text = (file: string) => readFileSync(join(dir, file), "utf8");
  const importing = files.filter((file) => file.endsWith(".ts") && IMPORTS_ITEMS.test(text(file)));
  const naming = files.filter(
    (file) =>
      !importing.includes(file) &&
      (USES_ITEMS.test(text(file)) || DESCRIBES_ITEMS.test(text(file))),
  );
  const bench = naming.filter((file) => file.startsWith("bench/"));
  const docs = naming.filter((file) => /\.md$|^llms\.txt$/.test(file));
  const code = naming.filter((file) => !bench.includes(file) && !docs.includes(file));
  const list = (files: string[]) => `\n    ${files.join("\n    ")}`;
  if (importing.length > 0) {
    report.notes.push(
      `these import the removed module's code and no longer compile; point them at your first module or delete them:${list(importing)}`,
    );
  }
  if (bench.length > 0) {
    report.notes.push(
      `bench/ measures the example's read path (GET /api/v1/items) by design; it compiles as left: point it at your first module before npm run bench:${list(bench)}`,
    );
  }
  if (code.length > 0) {
    report.notes.push(
      `these compile and pass, and name the example in comments or descriptions (the default roles', the audit log route's, the house style of new:module); adapt them to your first module:${list(code)}`,
    );
  }
  if (docs.length > 0) {
    report.notes.push(
      `these docs still use the example to explain the kit (its routes, permissions, table); adapt them to your first module:${list(docs)}`,
    );
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The example's grants, held by the default roles of the tenants that exist when it goes. */
const DROP_ITEMS_GRANTS_SQL = `-- The items example's grants go with it (written by npm run init --without-items): the tenants
-- that exist now got them on their default roles from 0007_rbac_security, new tenants get only
-- what the modules declare. Custom roles lose them too: they grant nothing now. RLS is forced
-- on role_permissions: the delete runs as app_system, which the migrating role was granted.
-- The audit trigger records each removal in the tenant's log.
SET ROLE app_system;
--> statement-breakpoint
DELETE FROM public.role_permissions WHERE permission LIKE 'items:%';
--> statement-breakpoint
RESET ROLE;
`;

/**
 * Two migrations, unless they exist: drizzle-kit's dropping the items table (and its snapshot),
 * and a hand-written one taking the example's grants from the roles of existing tenants.
 */
function dropItemsTable(dir: string, report: Report): void {
  const migrations = join(dir, "migrations");
  if (!existsSync(migrations)) return;
  const drizzleKit = (...args: string[]) =>
    execFileSync(
      process.execPath,
      [join(dir, "node_modules", "drizzle-kit", "bin.cjs"), "generate", ...args],
      { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
  const has = (suffix: string) => readdirSync(migrations).some((file) => file.endsWith(suffix));
  const before = new Set(readdirSync(migrations));
  if (!has("_drop_example_items.sql")) drizzleKit("--name", "drop_example_items");
  if (!has("_drop_example_items_grants.sql")) {
    drizzleKit("--custom", "--name", "drop_example_items_grants");
    const file = readdirSync(migrations).find((name) =>
      name.endsWith("_drop_example_items_grants.sql"),
    );
    if (file) writeFileSync(join(migrations, file), DROP_ITEMS_GRANTS_SQL);
  }
  const added = readdirSync(migrations).filter((file) => !before.has(file));
  if (added.length === 0) return;
  for (const file of added) report.changed.add(`migrations/${file} (new)`);
  report.notes.push(
    "new migrations drop the items table and take its grants from the roles of existing tenants; the kit's earlier migrations (which create them) are unchanged",
  );
}

/** Biome re-aligns what a rename made narrower or wider (Markdown tables). */
function formatChanged(dir: string, report: Report): void {
  const biome = join(dir, "node_modules", "@biomejs", "biome", "bin", "biome");
  const files = [...report.changed]
    .map((entry) => entry.split(" -> ").pop()?.split(" (")[0] ?? "")
    .filter((file) => /\.(md|ts|json)$/.test(file) && existsSync(join(dir, file)));
  if (!existsSync(biome) || files.length === 0) return;
  try {
    execFileSync(
      process.execPath,
      [biome, "format", "--write", "--no-errors-on-unmatched", ...files],
      {
        cwd: dir,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
  } catch {
    report.notes.push("npm run format could not format the changed files; run it and review");
  }
}

function main(): void {
  const options = parseOptions(process.argv.slice(2));
  const { dir, name, force } = options;
  if (!existsSync(join(dir, "package.json")) || !statSync(dir).isDirectory()) {
    throw new UsageError(`${dir} is not a project: it has no package.json`);
  }
  if (isGitTree(dir) && !force) {
    const dirty = git(dir, "status", "--porcelain").trim();
    if (dirty) {
      throw new UsageError(
        `uncommitted changes (commit or stash them first, or pass --force):\n${dirty}`,
      );
    }
  }
  const current = readJson(join(dir, "package.json")).name as string;
  if (current !== KIT_NAME && !force) {
    throw new UsageError(
      `this project was already started as ${current}; run again with --force to change it`,
    );
  }
  const report: Report = { changed: new Set(), removed: [], notes: [] };
  rename(dir, current, name, report);
  writeEnv(dir, report);
  if (options.withoutItems) removeItems(dir, report);
  formatChanged(dir, report);

  const list = (title: string, lines: Iterable<string>) => {
    const all = [...lines];
    if (all.length > 0) console.log(`${title}\n  ${all.join("\n  ")}`);
  };
  console.log(`Started ${name} in ${dir}.`);
  list("Changed:", report.changed);
  list("Removed:", report.removed);
  list("Notes:", report.notes);
  if (report.changed.size === 0 && report.removed.length === 0) console.log("Nothing to change.");
  console.log(`
Next steps:
  1. Review and commit: git add -A && git commit -m "Start ${name}"
  2. npm run dev              (runs without services: embedded PostgreSQL, see .env)
     or: npm run services && set DATABASE_URL/REDIS_URL in .env, then npm run migrate
  3. npm run lint && npm test (the services of docs/configuration.md, "Tests only")
  4. Add your first module: npm run new:module -- <name> --fields ... (docs/adding-a-module.md)
  5. Production: npm run -s secret >> .env.production, and docs/operations.md`);
}

try {
  main();
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`init: ${error.message}\n\n${USAGE}`);
    process.exitCode = 64;
  } else {
    console.error(`init: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
