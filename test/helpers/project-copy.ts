import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

const git = (cwd: string, ...args: string[]) =>
  run("git", ["-c", "user.name=t", "-c", "user.email=t@example.test", ...args], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  });

/**
 * This project as git lists it (tracked and untracked, not ignored), node_modules linked, in a
 * fresh repository of its own with one commit, so a test can run a project command there and
 * see what it changed. The caller removes the folder.
 */
export async function copyOfProject(prefix: string): Promise<string> {
  const copy = mkdtempSync(join(tmpdir(), prefix));
  const { stdout } = await git(
    repoRoot,
    "ls-files",
    "-z",
    "--cached",
    "--others",
    "--exclude-standard",
  );
  for (const file of stdout.split("\0")) {
    if (!file || !existsSync(join(repoRoot, file))) continue;
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    cpSync(join(repoRoot, file), join(copy, file));
  }
  symlinkSync(join(repoRoot, "node_modules"), join(copy, "node_modules"));
  await git(copy, "init", "-q");
  // A link is not the directory .gitignore's `node_modules/` names.
  writeFileSync(join(copy, ".git", "info", "exclude"), "node_modules\n");
  await git(copy, "add", "-A");
  await git(copy, "commit", "-q", "-m", "kit");
  return copy;
}

/** How a command in a copy ended: its exit code and what it printed (stdout, then stderr). */
export interface Outcome {
  code: number;
  output: string;
}

/** The environment of a child run: this process's, without what Vitest set for its workers. */
const childEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^(VITEST|__VITEST|TINYPOOL)/.test(key)),
);

/** Runs `file` (node by default) with `args` in `cwd`; a failure is an outcome, not a throw. */
export async function runInCopy(
  cwd: string,
  args: string[],
  file = process.execPath,
): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(file, args, {
      cwd,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...childEnv, FORCE_COLOR: "0", NO_COLOR: "1" },
    });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === "number" ? failed.code : 1,
      output: `${failed.stdout ?? ""}${failed.stderr ?? ""}`,
    };
  }
}

/** A tool's entry in the copy's (linked) node_modules. */
export const bin = (path: string) => join("node_modules", path);

/** A named command: node arguments, or another executable's (the third element). */
export type Step = [name: string, args: string[], file?: string];

/** The checks CI runs besides the tests: the lint's parts, db:check and docs:check. */
export const STATIC_CHECKS: readonly Step[] = [
  ["tsc", [bin("typescript/bin/tsc"), "--noEmit"]],
  ["biome", [bin("@biomejs/biome/bin/biome"), "check", "."]],
  [
    "depcruise",
    [
      bin("dependency-cruiser/bin/dependency-cruise.mjs"),
      "src",
      "--config",
      ".dependency-cruiser.cjs",
    ],
  ],
  ["knip", [bin("knip/bin/knip.js")]],
  ["openapi", ["run", "-s", "lint:openapi"], "npm"],
  ["dbCheck", ["--import", "tsx", "scripts/db-check.ts"]],
  ["docsCheck", ["--import", "tsx", "scripts/docs.ts", "--check"]],
];

/** Runs `steps` in `cwd` one after the other; each one's outcome by name. */
export async function runSteps(cwd: string, steps: readonly Step[]) {
  const outcomes: Record<string, Outcome> = {};
  for (const [name, args, file] of steps) outcomes[name] = await runInCopy(cwd, args, file);
  return outcomes;
}
