import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The layer rules in .dependency-cruiser.cjs, proven to bite: a fixture tree breaks each rule
 * once (test/fixtures/layer-violation/README.md), and the real src/ breaks none.
 */

const root = fileURLToPath(new URL("../../", import.meta.url));
const cli = fileURLToPath(
  new URL("../../node_modules/dependency-cruiser/bin/dependency-cruise.mjs", import.meta.url),
);
const config = fileURLToPath(new URL("../../.dependency-cruiser.cjs", import.meta.url));
const fixture = fileURLToPath(new URL("../fixtures/layer-violation/", import.meta.url));

interface Violation {
  rule: { name: string; severity: string };
  from: string;
  to: string;
}

/** Cruises `src` with the project's rules, from `cwd`, the way `npm run lint` does. */
// (With --output-type json the CLI exits 0 whatever it finds; the default "err" reporter used by
// `npm run lint` exits with the number of errors.)
function cruise(cwd: string): Violation[] {
  const result = spawnSync(
    process.execPath,
    [cli, "--config", config, "--output-type", "json", "src"],
    { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.error) throw result.error;
  let output: { summary: { violations: Violation[] } };
  try {
    output = JSON.parse(result.stdout);
  } catch {
    throw new Error(`depcruise printed no JSON (exit ${result.status}):\n${result.stderr}`);
  }
  return output.summary.violations;
}

describe("layer rules (dependency-cruiser)", () => {
  // dependency-cruiser parses every file it cruises: seconds, more on a busy machine.
  it("reports each violation in the fixture under the right rule, and nothing else", {
    timeout: 30_000,
  }, () => {
    const violations = cruise(fixture);
    const found = violations
      // A package resolves to wherever node_modules is (a link in a copy of the project).
      .map((v) => ({
        rule: v.rule.name,
        severity: v.rule.severity,
        from: v.from,
        to: v.to.replace(/^.*\/node_modules\//, "node_modules/"),
      }))
      .sort((a, b) => a.rule.localeCompare(b.rule));

    expect(found).toEqual([
      {
        rule: "core-never-imports-modules",
        severity: "error",
        from: "src/core/thing.ts",
        to: "src/modules/items/items.service.ts",
      },
      {
        rule: "index-exposes-no-repository",
        severity: "error",
        from: "src/modules/items/index.ts",
        to: "src/modules/items/items.repository.ts",
      },
      {
        rule: "modules-never-import-the-composition",
        severity: "error",
        from: "src/modules/other/other.routes.ts",
        to: "src/infrastructure.ts",
      },
      {
        rule: "modules-through-index",
        severity: "error",
        from: "src/modules/other/other.service.ts",
        to: "src/modules/items/items.service.ts",
      },
      {
        rule: "routes-never-import-repositories",
        severity: "error",
        from: "src/modules/items/items.routes.ts",
        to: "src/modules/items/items.repository.ts",
      },
      {
        rule: "sql-only-in-repositories",
        severity: "error",
        from: "src/modules/items/items.service.ts",
        to: "node_modules/drizzle-orm/index.d.ts",
      },
      {
        rule: "tables-import-nothing-of-ours",
        severity: "error",
        from: "src/modules/items/items.table.ts",
        to: "src/core/clock.ts",
      },
      {
        rule: "tables-only-in-repositories",
        severity: "error",
        from: "src/modules/items/items.service.ts",
        to: "src/modules/items/items.table.ts",
      },
    ]);
  });

  // Cruising the whole of src/ takes seconds on a loaded machine.
  it("finds no violation in the real src/", { timeout: 30_000 }, () => {
    const violations = cruise(root);
    expect(violations).toEqual([]);
  });
});
