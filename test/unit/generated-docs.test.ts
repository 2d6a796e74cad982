import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { commandsProblems } from "../../scripts/lib/generated-docs/commands.js";
import { DOCUMENT_SUMMARIES, documentsList } from "../../scripts/lib/generated-docs/documents.js";
import {
  ENVIRONMENT_DOCS,
  environmentTable,
} from "../../scripts/lib/generated-docs/environment.js";
import {
  type GeneratedDocs,
  generateDocs,
  REPOSITORY_ROOT,
} from "../../scripts/lib/generated-docs/index.js";
import { replaceSection } from "../../scripts/lib/generated-docs/markdown.js";
import {
  configurationProblems,
  layoutProblems,
} from "../../scripts/lib/generated-docs/references.js";
import { environmentSchema } from "../../src/config.js";

/*
 * The docs derived from the code are committed; this is the check that they still say what
 * the code says. A failure names the file: run `npm run docs:generate` and commit the result
 * (for a SQL snapshot, after reading the SQL the change produces).
 */

const committed = (path: string) =>
  existsSync(join(REPOSITORY_ROOT, path)) ? readFileSync(join(REPOSITORY_ROOT, path), "utf8") : "";

let generated: GeneratedDocs;
beforeAll(async () => {
  generated = await generateDocs(REPOSITORY_ROOT);
}, 60_000);

describe("docs generated from the code", () => {
  it("README.md, AGENTS.md, llms.txt and docs/*.md hold what npm run docs:generate writes", () => {
    const documents = [...generated.files.keys()].filter((path) => !path.endsWith(".sql"));
    expect(documents).toEqual(
      expect.arrayContaining([
        "README.md",
        "AGENTS.md",
        "llms.txt",
        "docs/adding-a-module.md",
        "docs/architecture.md",
      ]),
    );
    for (const path of documents) {
      expect(committed(path), `${path}: run npm run docs:generate`).toBe(generated.files.get(path));
    }
  });

  it("every prepared statement's SQL is in the committed snapshot beside its repository", () => {
    const snapshots = [...generated.files.keys()].filter((path) => path.endsWith(".sql"));
    expect(snapshots).toEqual(
      expect.arrayContaining([
        "src/modules/tenants/tenants.repository.sql",
        "src/core/auth/tenant-lookup.sql",
        "src/core/database/database.sql",
      ]),
    );
    for (const path of snapshots) {
      expect(committed(path), `${path}: run npm run docs:generate`).toBe(generated.files.get(path));
    }
    expect(generated.stale, "snapshots of statements no longer prepared").toEqual([]);
  });

  it("the snapshots hold the statements as sent, with what fills each parameter", () => {
    const tenants = generated.files.get("src/modules/tenants/tenants.repository.sql") ?? "";
    expect(tenants).toContain(
      '-- tenants_rename_current\n-- $1 :name, $2 :tenantId\nupdate "tenants" set "name" = $1 where "tenants"."id" = $2 returning "id", "name", "slug", "plan", "status", "created_at", "updated_at";',
    );
    expect(generated.files.get("src/core/database/database.sql")).toContain(
      "select set_config('role', 'app_tenant', true), app.enter_tenant($1::uuid",
    );
  });

  it("the configuration reference, .env.example and the README layout leave nothing out", () => {
    expect(generated.problems).toEqual([]);
  });
});

describe("the generation refuses what it cannot document", () => {
  it("a variable the schema reads without a line in ENVIRONMENT_DOCS", () => {
    const extended = environmentSchema.extend({ SOMETHING_NEW: z.string().optional() });
    expect(() => environmentTable(extended)).toThrow(
      "SOMETHING_NEW has no entry in ENVIRONMENT_DOCS",
    );
  });

  it("a documented variable the schema no longer reads, and a default the schema owns", () => {
    const { HOST: _, ...withoutHost } = environmentSchema.shape;
    expect(() => environmentTable(z.object(withoutHost))).toThrow(
      "HOST is documented but the schema reads no such variable",
    );
    const docs = { ...ENVIRONMENT_DOCS, PORT: { meaning: "port", default: "`80`" } };
    expect(() => environmentTable(environmentSchema, docs)).toThrow(
      "PORT's default comes from the schema (`8000`)",
    );
  });

  it("production's rules come from loadConfig", () => {
    const table = environmentTable(environmentSchema);
    const row = (name: string) =>
      table.split("\n").find((line) => line.startsWith(`| \`${name}\``));
    expect(row("REDIS_URL")).toContain("| **required** |");
    expect(row("PUBLIC_URL")).toContain("**required**; `https` only");
    expect(row("GITHUB_CLIENT_ID")).toContain("both or neither");
    expect(row("PORT")).not.toContain("required");
  });

  it("a configuration reference or .env.example without a variable, or with another default", () => {
    const schema = z.object({
      PORT: environmentSchema.shape.PORT,
      HOST: environmentSchema.shape.HOST,
    });
    const reference = [
      "| variable | default | meaning |",
      "| --- | --- | --- |",
      "| `PORT` | `9000` | port |",
      "| `GONE` | none | removed |",
    ].join("\n");
    expect(configurationProblems(schema, reference, "# PORT=8080\nOLD_NAME=1\n")).toEqual([
      "docs/configuration.md gives PORT the default `9000`; the schema's is `8000`",
      ".env.example gives PORT 8080; the schema's default is 8000",
      "docs/configuration.md has no row for HOST",
      ".env.example does not name HOST",
      ".env.example names OLD_NAME, which src/config.ts does not read",
      "docs/configuration.md has a row for GONE, which src/config.ts does not read",
    ]);
  });

  it("a project layout that leaves out a file or names one that is gone", () => {
    const readme = committed("README.md")
      .replace("batched-limiter.ts (general", "batched-limits.ts (general")
      .replace(
        "  worker.ts            the worker process",
        "  workers.ts           the worker process",
      );
    expect(layoutProblems(REPOSITORY_ROOT, readme)).toEqual(
      expect.arrayContaining([
        "README's project layout lacks src/worker.ts",
        "README's project layout lacks src/core/rate-limit/batched-limiter.ts",
        "README's project layout names src/core/rate-limit/batched-limits.ts, which does not exist",
      ]),
    );
  });

  it("an npm script without its just recipe or README row, a row twice, a recipe or row of no script", () => {
    const justfile = [
      "# List the recipes",
      "default:",
      "    @just --list",
      "",
      "# Run every test (npm test)",
      "test *args:",
      '    @npm run test -- "$@"',
      "",
      "db-check *args:",
      '    @npm run db:check -- "$@"',
      "",
      "# Gone",
      "old-thing *args:",
      '    @npm run old-thing -- "$@"',
    ].join("\n");
    const readme = [
      "## Commands",
      "",
      "| npm | just | what it does |",
      "| --- | --- | --- |",
      "| `npm test` | `just test` | every test |",
      "| `npm run db:check` | `just db:check` | drift |",
      "| `npm test` | `just test` | every test, again |",
      "| `npm run gone` | `just gone` | removed |",
      "",
      "## Configuration",
    ].join("\n");
    expect(commandsProblems(["test", "db:check", "db:reset"], justfile, readme)).toEqual([
      "the justfile's recipe db-check has no comment saying what it does",
      "the justfile has no recipe db-reset running npm run db:reset",
      "the justfile's recipe old-thing runs no npm script of package.json",
      "README's commands table has npm test twice",
      "README's commands table gives npm run db:check the recipe `just db:check`",
      "README's commands table has no row for npm run db:reset",
      "README's commands table has a row for npm run gone, which package.json does not define",
    ]);
  });

  it("AGENTS.md's commands say what the justfile says of each script", () => {
    const agents = generated.files.get("AGENTS.md") ?? "";
    const scripts = Object.keys(
      (JSON.parse(committed("package.json")) as { scripts: Record<string, string> }).scripts,
    );
    for (const script of scripts) {
      expect(agents).toMatch(new RegExp(`\\| \`npm (run ${script}|test)\` +\\| [A-Z]`));
    }
    expect(agents).toContain("| `npm run db:reset`");
    expect(agents).toMatch(/\| `npm run dev` +\| Start the API with reload on change +\|/);
  });

  it("a document of docs/ without its line in the index, and a line for a document that is gone", () => {
    const { "docs/tenancy.md": _, ...withoutTenancy } = DOCUMENT_SUMMARIES;
    expect(() => documentsList(REPOSITORY_ROOT, withoutTenancy)).toThrow(
      "docs/tenancy.md: add a line saying what it covers to DOCUMENT_SUMMARIES",
    );
    expect(() =>
      documentsList(REPOSITORY_ROOT, { ...DOCUMENT_SUMMARIES, "docs/gone.md": "nothing" }),
    ).toThrow("DOCUMENT_SUMMARIES lists docs/gone.md, which does not exist");
    expect(documentsList(REPOSITORY_ROOT)).toContain(
      "- [Adding a module](docs/adding-a-module.md): a second module, step by step",
    );
  });

  it("a document without the markers of its section", () => {
    expect(() => replaceSection("# Title\n", "README.md", "modules", "table")).toThrow(
      'README.md must hold the generated section "modules" once',
    );
  });
});
