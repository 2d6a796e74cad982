import { execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { type ModuleSpec, SpecError } from "./spec.js";
import {
  indexFile,
  permissionsFile,
  repositoryFile,
  routeExpectationsFile,
  routesFile,
  schemasFile,
  securityMigration,
  serviceFile,
  tableFile,
  testFile,
} from "./templates.js";

/**
 * Writes a module into the project at `root`: its files, its line in src/modules.ts, its two
 * migrations (drizzle-kit's for the table, then the hand-written one), Biome's formatting, and
 * the generated docs and SQL snapshot. Anything going wrong midway puts every file back as it
 * was. Returns the files written or changed.
 */
export async function generateModule(
  root: string,
  spec: ModuleSpec,
  description: string,
  warn: (line: string) => void,
): Promise<string[]> {
  const drizzleKit = (...args: string[]) =>
    execFileSync(process.execPath, [join(root, "node_modules/drizzle-kit/bin.cjs"), ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, DRIZZLE_OUT: undefined },
    });
  refuseDrift(root);

  const files = new Map<string, string>([
    [`src/modules/${spec.name}/${spec.name}.table.ts`, tableFile(spec)],
    [`src/modules/${spec.name}/${spec.name}.repository.ts`, repositoryFile(spec)],
    [`src/modules/${spec.name}/${spec.name}.schemas.ts`, schemasFile(spec)],
    [`src/modules/${spec.name}/${spec.name}.service.ts`, serviceFile(spec)],
    [`src/modules/${spec.name}/${spec.name}.permissions.ts`, permissionsFile(spec)],
    [`src/modules/${spec.name}/${spec.name}.routes.ts`, routesFile(spec)],
    [`src/modules/${spec.name}/index.ts`, indexFile(spec, description)],
    [
      `test/integration/modules/${spec.name}/${spec.name}.routes-expectations.ts`,
      routeExpectationsFile(spec),
    ],
    [`test/integration/modules/${spec.name}/${spec.name}.test.ts`, testFile(spec)],
  ]);
  const changes = new Changes(root);
  try {
    for (const [path, content] of files) changes.write(path, content);
    changes.write("src/modules.ts", registered(changes.read("src/modules.ts"), spec));
    changes.write(
      "src/api/openapi.ts",
      withTagDescription(changes.read("src/api/openapi.ts"), spec, description),
    );

    // drizzle-kit writes the table's migration, its snapshot and the journal entry; then an
    // empty custom migration, filled in here.
    changes.keep("migrations/meta/_journal.json");
    const tableMigration = changes.track("migrations", () =>
      drizzleKit("generate", "--name", spec.table),
    );
    const securityName = `${spec.table}_security`;
    const security = changes.track("migrations", () =>
      drizzleKit("generate", "--custom", "--name", securityName),
    );
    const sql = security.find((file) => file.endsWith(`_${securityName}.sql`));
    if (!tableMigration.some((file) => file.endsWith(`_${spec.table}.sql`)) || !sql) {
      throw new Error(
        `drizzle-kit did not write the migrations (it wrote: ${[...tableMigration, ...security].join(", ") || "nothing"})`,
      );
    }
    changes.write(sql, securityMigration(spec));

    const biome = [...files.keys(), "src/modules.ts", "src/api/openapi.ts"];
    execFileSync(
      process.execPath,
      [join(root, "node_modules/@biomejs/biome/bin/biome"), "check", "--write", ...biome],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );

    // The SQL snapshot of the repository, and the docs' tables of modules, migrations and
    // permissions, as `npm run docs:generate` writes them.
    const { differences, generateDocs } = await import("../generated-docs/index.js");
    const generated = await generateDocs(root);
    // Hand-written references the docs check finds wrong are not the module's to fix: said, not fatal.
    for (const problem of generated.problems) warn(`npm run docs:check: ${problem}`);
    for (const path of differences(root, generated)) {
      const content = generated.files.get(path);
      if (content === undefined) throw new Error(`npm run docs:generate would remove ${path}`);
      changes.write(path, content);
    }
  } catch (error) {
    changes.undo();
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`${(error as Error).message}${stderr ? `\n${stderr}` : ""}`);
  }
  return changes.paths();
}

/** Refuses to start when drizzle-kit would already write a migration (`npm run db:check`). */
function refuseDrift(root: string): void {
  mkdirSync(join(root, ".data"), { recursive: true });
  const scratch = mkdtempSync(join(root, ".data", "new-module-"));
  try {
    cpSync(join(root, "migrations"), scratch, { recursive: true });
    const before = new Set(readdirSync(scratch));
    execFileSync(
      process.execPath,
      [join(root, "node_modules/drizzle-kit/bin.cjs"), "generate", "--name", "drift"],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, DRIZZLE_OUT: scratch },
      },
    );
    if (readdirSync(scratch).some((file) => !before.has(file))) {
      throw new SpecError(
        "the *.table.ts files and migrations/ disagree already (npm run db:check); generate that migration first",
      );
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** src/modules.ts with the module imported and last in `defaultModules`. */
function registered(source: string, spec: ModuleSpec): string {
  const end = "] as const satisfies readonly AppModule[];";
  const imports = [...source.matchAll(/^import .* from "\.\/modules\/.*";$/gm)];
  const last = imports.at(-1);
  if (!source.includes(end) || last?.index === undefined) {
    throw new Error(`src/modules.ts: cannot find defaultModules (${end}) or its imports`);
  }
  const line = `import { ${spec.plural}Module } from "./modules/${spec.name}/index.js";\n`;
  const afterImports = last.index + last[0].length + 1;
  const withImport = source.slice(0, afterImports) + line + source.slice(afterImports);
  return withImport.replace(end, `  ${spec.plural}Module,\n${end}`);
}

/** src/api/openapi.ts with the module's tag described: the OpenAPI lint wants every tag described. */
function withTagDescription(source: string, spec: ModuleSpec, description: string): string {
  const start = source.indexOf("const TAG_DESCRIPTIONS: Record<string, string> = {");
  const end = start < 0 ? -1 : source.indexOf("\n};\n", start);
  if (end < 0) throw new Error("src/api/openapi.ts: cannot find TAG_DESCRIPTIONS");
  const line = `\n  ${JSON.stringify(spec.name)}: ${JSON.stringify(description)},`;
  return source.slice(0, end) + line + source.slice(end);
}

/** The files a run writes, and how to put them back. */
class Changes {
  private readonly originals = new Map<string, string | undefined>();

  constructor(private readonly root: string) {}

  read(path: string): string {
    return readFileSync(join(this.root, path), "utf8");
  }

  /** Remembers `path` as it is now, before something else changes it. */
  keep(path: string): void {
    if (this.originals.has(path)) return;
    const full = join(this.root, path);
    this.originals.set(path, existsSync(full) ? readFileSync(full, "utf8") : undefined);
  }

  write(path: string, content: string): void {
    this.keep(path);
    mkdirSync(dirname(join(this.root, path)), { recursive: true });
    writeFileSync(join(this.root, path), content);
  }

  /** Runs `fn` and records the files it adds under `folder` (recursively); returns them. */
  track(folder: string, fn: () => unknown): string[] {
    const list = () =>
      new Set(
        readdirSync(join(this.root, folder), { recursive: true, encoding: "utf8" }).map(
          (file) => `${folder}/${file}`,
        ),
      );
    const before = list();
    try {
      fn();
    } finally {
      for (const path of list()) {
        if (!before.has(path) && !this.originals.has(path)) this.originals.set(path, undefined);
      }
    }
    return [...list()].filter((path) => !before.has(path));
  }

  paths(): string[] {
    return [...this.originals.keys()].sort();
  }

  undo(): void {
    for (const [path, content] of this.originals) {
      const full = join(this.root, path);
      if (content === undefined) rmSync(full, { force: true });
      else writeFileSync(full, content);
    }
    for (const path of this.originals.keys()) {
      // The folders the run made, emptied.
      for (
        let dir = dirname(path);
        dir.startsWith("src/modules/") || dir.startsWith("test/integration/modules/");
        dir = dirname(dir)
      ) {
        const full = join(this.root, dir);
        if (existsSync(full) && readdirSync(full).length === 0) rmSync(full, { recursive: true });
        else break;
      }
    }
  }
}
