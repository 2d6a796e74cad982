import { existsSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bin,
  copyOfProject,
  type Outcome,
  runInCopy,
  runSteps,
  STATIC_CHECKS,
} from "../helpers/project-copy.js";

/**
 * `npm run init -- --without-items` in a copy of this project (its files as git lists them,
 * node_modules linked, a git repository of its own), then its first commit as CI checks it,
 * without a hand edit: tsc, Biome, dependency-cruiser, knip, the OpenAPI lint, db:check (with
 * the migrations init added) and docs:check; the unit tests; and, against a template database
 * migrated from the copy's own migrations, the integration tests that need a tenant-scoped
 * module (tenant isolation, row-level security, the route x role matrix, the schema guards,
 * problems, tokens, the default grants, the Citus readiness of the tenant tables, the rbac and
 * audit modules). The rest of the integration suite runs in the kit itself; init.test.ts covers
 * the rename, the .env and the refusals. In a project already started, the copy is started
 * again with --force.
 */

const git = (cwd: string, ...args: string[]) =>
  runInCopy(cwd, ["-c", "user.name=t", "-c", "user.email=t@example.test", ...args], "git");

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
/** In a project already started from the kit (scripts/init.ts keeps the kit's name), --force. */
const force =
  JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).name ===
  /const KIT_NAME = "([^"]+)";/.exec(readFileSync(join(repoRoot, "scripts/init.ts"), "utf8"))?.[1]
    ? []
    : ["--force"];

/** The integration tests that use a tenant-scoped module: the notes fixture, never items. */
const INTEGRATION_TESTS = [
  "test/integration/tenant-isolation.test.ts",
  "test/integration/row-level-security.test.ts",
  "test/integration/permissions.test.ts",
  "test/integration/schema-guards.test.ts",
  "test/integration/problems.test.ts",
  "test/integration/tokens.test.ts",
  "test/integration/default-grants.test.ts",
  "test/integration/citus-readiness.test.ts",
  "test/integration/modules/rbac/rbac.test.ts",
  "test/integration/modules/audit/audit.test.ts",
];
/** It starts copies of the kit itself: the kit runs it (a started project runs it with --force). */
const UNIT_TESTS_NOT_RUN = ["test/unit/init.test.ts"];

interface VitestReport {
  testResults: { name: string; status: string; assertionResults: { status: string }[] }[];
}

let copy: string;
let started: Outcome;
let committed: Outcome;
let checks: Record<string, Outcome> = {};
let testReport: VitestReport | undefined;
let again: Outcome | undefined;
let againChanges: Outcome | undefined;

// About two minutes on two free cores, like the new:module test; more when the machine is busy.
beforeAll(async () => {
  copy = await copyOfProject("kit-init-without-items-");
  started = await runInCopy(copy, [
    "--import",
    "tsx",
    "scripts/init.ts",
    "--name",
    "@acme/portal",
    "--without-items",
    ...force,
  ]);
  if (started.code !== 0) return;
  // The project's first commit, as the next steps say; .env stays out (git-ignored).
  committed = await git(copy, "add", "-A");
  if (committed.code === 0) committed = await git(copy, "commit", "-q", "-m", "Start");
  // Two lanes side by side, the static checks and the tests: two cores busy, so the rest of the
  // suite keeps its share of the machine.
  const [staticChecks, testRuns] = await Promise.all([
    runSteps(copy, STATIC_CHECKS),
    runSteps(copy, [
      [
        "tests",
        [
          bin("vitest/vitest.mjs"),
          "run",
          // One test file at a time: this is one lane of the two.
          "--maxWorkers=1",
          "test/unit/",
          ...INTEGRATION_TESTS,
          ...UNIT_TESTS_NOT_RUN.flatMap((file) => ["--exclude", file]),
          "--reporter=default",
          "--reporter=json",
          "--outputFile.json=.data/init-tests.json",
        ],
      ],
    ]),
  ]);
  checks = { ...staticChecks, ...testRuns };
  const report = join(copy, ".data/init-tests.json");
  if (existsSync(report)) testReport = JSON.parse(readFileSync(report, "utf8"));
  // Run again, forced, on the started project: nothing left to change, no third migration.
  again = await runInCopy(copy, [
    "--import",
    "tsx",
    "scripts/init.ts",
    "--name",
    "@acme/portal",
    "--without-items",
    "--force",
  ]);
  againChanges = await git(copy, "status", "--porcelain");
}, 480_000);

afterAll(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe("npm run init -- --without-items", () => {
  it("removes the module, its tests and its table (a new migration), and says what names it still", async () => {
    expect(started.code, started.output).toBe(0);
    expect(committed.code, committed.output).toBe(0);
    expect(existsSync(join(copy, "src/modules/items"))).toBe(false);
    expect(existsSync(join(copy, "test/integration/modules/items"))).toBe(false);
    // No code of the application or of its tests refers to the module (the layer rules' fixture
    // has an items module of its own, cruised by itself; the init tests name what they look for).
    const reference =
      /from "[^"]*\/modules\/items\/|itemsModule|itemsPermissions|itemsService|ItemRow/;
    const code = ["src", "test"].flatMap((top) =>
      readdirSync(join(copy, top), { recursive: true, encoding: "utf8" })
        .map((file) => `${top}/${file}`)
        .filter(
          (file) =>
            file.endsWith(".ts") &&
            !file.startsWith("test/fixtures/layer-violation/") &&
            !/\/init(-without-items)?\.test\.ts$/.test(file),
        ),
    );
    expect(code.length).toBeGreaterThan(100);
    const left = code.filter((file) => reference.test(readFileSync(join(copy, file), "utf8")));
    expect(left).toEqual([]);
    // Nor does a test call its routes: the integration tests not run below included.
    const routes = code.filter(
      (file) =>
        file.startsWith("test/") &&
        readFileSync(join(copy, file), "utf8").includes("/api/v1/items"),
    );
    expect(routes).toEqual([]);
    const migration = (suffix: string) => {
      const file = readdirSync(join(copy, "migrations")).find((name) => name.endsWith(suffix));
      return readFileSync(join(copy, "migrations", file ?? `missing${suffix}`), "utf8");
    };
    expect(migration("_drop_example_items.sql")).toContain('DROP TABLE "items"');
    expect(migration("_drop_example_items_grants.sql")).toContain(
      "DELETE FROM public.role_permissions WHERE permission LIKE 'items:%'",
    );
    // What still names the example is listed for the developer: the benchmarks and the prose.
    const naming = (file: string) =>
      existsSync(join(copy, file)) &&
      readFileSync(join(copy, file), "utf8").includes("/api/v1/items");
    if (naming("bench/run.ts")) {
      expect(started.output).toMatch(
        /point it at your first module[^\n]*:\n(\s+\S+\n)*\s+bench\/run\.ts\n/,
      );
    }
    for (const doc of ["docs/permissions.md", "docs/tenancy.md"].filter(naming)) {
      expect(started.output).toMatch(
        new RegExp(`adapt them to your first module:\\n(\\s+\\S+\\n)*\\s+${doc}\\n`),
      );
    }
    expect(started.output).not.toContain("no longer compile");
  });

  it.each([
    ["tsc", "tsc"],
    ["biome", "Biome"],
    ["depcruise", "dependency-cruiser"],
    ["knip", "knip"],
    ["openapi", "the OpenAPI lint"],
    ["dbCheck", "db:check"],
    ["docsCheck", "docs:check"],
  ])("leaves a first commit that passes %s (%s)", (key) => {
    const outcome = checks[key];
    expect(outcome, "init failed").toBeDefined();
    expect(outcome?.code, outcome?.output).toBe(0);
  });

  it("run again with --force, changes nothing", () => {
    expect(again?.code, again?.output).toBe(0);
    expect(again?.output).not.toContain("Changed:");
    expect(againChanges?.output).toBe("");
  });

  it("passes the unit tests and the integration tests of tenant-scoped data", () => {
    const tests = checks.tests;
    expect(tests, "init failed").toBeDefined();
    expect(tests?.code, tests?.output).toBe(0);
    // Every file asked for ran and passed (a path that matches nothing is skipped silently).
    const results = new Map(
      (testReport?.testResults ?? []).map((file) => [
        relative(realpathSync(copy), file.name),
        file.assertionResults.map((test) => test.status),
      ]),
    );
    const unitTests = readdirSync(join(copy, "test/unit"))
      .filter((file) => file.endsWith(".test.ts"))
      .map((file) => `test/unit/${file}`)
      .filter((file) => !UNIT_TESTS_NOT_RUN.includes(file));
    for (const file of [...INTEGRATION_TESTS, ...unitTests]) {
      const statuses = results.get(file);
      expect(statuses, file).toContain("passed");
      expect(statuses, file).not.toContain("failed");
    }
  });
});
