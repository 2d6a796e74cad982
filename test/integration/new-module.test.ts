import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
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
 * `npm run new:module` in a copy of this project (its files as git lists them, node_modules
 * linked, a git repository of its own to see what changed): a bad field writes nothing; the
 * module it writes passes, without a hand edit, tsc, Biome, dependency-cruiser, knip, the
 * OpenAPI lint, db:check and docs:check, and in the copy (whose template database is migrated from its own
 * migrations) the module's tests, the route x role matrix of its routes, tenant isolation, the
 * schema guards, the default grants and the default roles pass.
 */

const run = promisify(execFile);

const git = async (cwd: string, ...args: string[]) => {
  const { stdout } = await run(
    "git",
    ["-c", "user.name=t", "-c", "user.email=t@example.test", ...args],
    { cwd, maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
};

const MODULE = "widgets";
// The first field is what the wrong-type test sends badly: a timestamp, the type with a refinement.
const FIELDS =
  "startsAt:timestamp,title:text,done:boolean,dueAt:timestamp?,estimate:integer,notes:text?";

let copy: string;
let refused: Outcome;
let refusedChanges: string;
let generated: Outcome;
let changes: string[];
let checks: Record<string, Outcome>;
let matrix: Outcome;
let matrixReport: {
  testResults: { name: string; assertionResults: { title: string; status: string }[] }[];
};

// About two minutes on two free cores; up to four when the machine is busy.
beforeAll(async () => {
  copy = await copyOfProject("kit-new-module-");
  refused = await runInCopy(copy, [
    "--import",
    "tsx",
    "scripts/new-module.ts",
    MODULE,
    "--fields",
    "title:txt",
  ]);
  refusedChanges = await git(copy, "status", "--porcelain");
  generated = await runInCopy(copy, [
    "--import",
    "tsx",
    "scripts/new-module.ts",
    MODULE,
    "--fields",
    FIELDS,
  ]);
  changes = (await git(copy, "status", "--porcelain", "--untracked-files=all"))
    .split("\n")
    .filter(Boolean)
    .map((line) => line.slice(3));
  if (generated.code !== 0) return;
  // One test file at a time: the copy's tests are one lane of the two below.
  const vitest = [bin("vitest/vitest.mjs"), "run", "--project", "integration", "--maxWorkers=1"];
  // Two lanes side by side, the static checks and the tests: two cores busy, not nine, so
  // the rest of the suite keeps its share of the machine.
  const [staticChecks, testRuns] = await Promise.all([
    runSteps(copy, STATIC_CHECKS),
    runSteps(copy, [
      [
        "tests",
        [
          ...vitest,
          `test/integration/modules/${MODULE}/`,
          "test/integration/tenant-isolation.test.ts",
          "test/integration/schema-guards.test.ts",
          "test/integration/default-grants.test.ts",
        ],
      ],
      [
        "matrix",
        [
          ...vitest,
          "test/integration/permissions.test.ts",
          "test/integration/modules/rbac/rbac.test.ts",
          "test/integration/modules/auth/auth.test.ts",
          // The module's routes in the matrix, and the default roles' grants as new tenants get them.
          "-t",
          `/api/v1/${MODULE}|covers every|system roles|enters the tenant asked for`,
          "--reporter=json",
          "--outputFile=.data/matrix.json",
        ],
      ],
    ]),
  ]);
  const { matrix: matrixRun, ...tests } = testRuns;
  checks = { ...staticChecks, ...tests };
  matrix = matrixRun as Outcome;
  const report = join(copy, ".data/matrix.json");
  if (existsSync(report)) matrixReport = JSON.parse(readFileSync(report, "utf8"));
}, 480_000);

afterAll(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe("npm run new:module", () => {
  it("refuses a bad field in one line and writes nothing", () => {
    expect(refused.code).toBe(64);
    expect(refused.output.trim()).toBe(
      'new:module: field "title": unknown type "txt" (types: text, boolean, integer, timestamp)',
    );
    expect(refusedChanges).toBe("");
  });

  it("writes the module, its tests and migrations, its line in the module list and the docs", () => {
    expect(generated.code, generated.output).toBe(0);
    const module = [
      "index.ts",
      `${MODULE}.permissions.ts`,
      `${MODULE}.repository.sql`,
      `${MODULE}.repository.ts`,
      `${MODULE}.routes.ts`,
      `${MODULE}.schemas.ts`,
      `${MODULE}.service.ts`,
      `${MODULE}.table.ts`,
    ].map((file) => `src/modules/${MODULE}/${file}`);
    const tests = [`${MODULE}.routes-expectations.ts`, `${MODULE}.test.ts`].map(
      (file) => `test/integration/modules/${MODULE}/${file}`,
    );
    const registration = ["src/modules.ts", "src/api/openapi.ts"];
    expect(changes).toEqual(expect.arrayContaining([...module, ...tests, ...registration]));
    const migrations = changes.filter((path) => /^migrations\/\d{4}_.*\.sql$/.test(path));
    expect(migrations.map((path) => path.replace(/\d{4}_/, "NNNN_"))).toEqual([
      `migrations/NNNN_${MODULE}.sql`,
      `migrations/NNNN_${MODULE}_security.sql`,
    ]);
    // Nothing else but the generated docs and drizzle-kit's journal and snapshots.
    const others = changes.filter(
      (path) =>
        ![...module, ...tests, ...migrations, ...registration].includes(path) &&
        !/^(migrations\/meta\/|docs\/.*\.md$|README\.md$|AGENTS\.md$|llms\.txt$)/.test(path),
    );
    expect(others).toEqual([]);
    const security = readFileSync(join(copy, migrations[1] as string), "utf8");
    expect(security).toContain(`FORCE ROW LEVEL SECURITY`);
    expect(security).toContain(`('member', '${MODULE}:create')`);
  });

  it.each([
    ["tsc", "tsc"],
    ["biome", "Biome"],
    ["depcruise", "dependency-cruiser"],
    ["knip", "knip"],
    ["openapi", "the OpenAPI lint"],
    ["dbCheck", "db:check"],
    ["docsCheck", "docs:check"],
    ["tests", "the module's tests, tenant isolation, schema guards and default grants"],
  ])("leaves a project that passes %s (%s)", (key) => {
    const outcome = checks?.[key];
    expect(outcome, "the generator failed").toBeDefined();
    expect(outcome?.code, outcome?.output).toBe(0);
  });

  it("passes the route x role matrix (200 with the permission, 403 without) and the default roles", () => {
    expect(matrix?.code, matrix?.output).toBe(0);
    const results = new Map(
      matrixReport.testResults.flatMap((file) =>
        file.assertionResults.map((result) => [result.title, result.status]),
      ),
    );
    // The module's five routes for each of the six callers, and the coverage of every route.
    const ran = [...results].filter(([title]) => title.includes(`/api/v1/${MODULE}`));
    expect(ran).toHaveLength(5 * 6);
    expect(ran.every(([, status]) => status === "passed")).toBe(true);
    expect(results.get(`GET /api/v1/${MODULE}/{id} as viewer`)).toBe("passed");
    expect(results.get(`DELETE /api/v1/${MODULE}/{id} as member`)).toBe("passed");
    expect(results.get("covers every signed-in route the OpenAPI document lists")).toBe("passed");
    // rbac.test.ts and auth.test.ts: the default roles' grants with the module's among them.
    for (const file of ["rbac.test.ts", "auth.test.ts"]) {
      const statuses = matrixReport.testResults
        .filter((result) => result.name.endsWith(file))
        .flatMap((result) => result.assertionResults.map((test) => test.status));
      expect(statuses, file).toContain("passed");
      expect(statuses, file).not.toContain("failed");
    }
  });
});
