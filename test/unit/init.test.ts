import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { productionTestConfig } from "../helpers/app.js";
import { copyOfProject } from "../helpers/project-copy.js";

/**
 * `npm run init` on copies of this project (its files as git lists them, node_modules linked):
 * the names, a .env production's configuration check accepts, refusals, a second run that
 * changes nothing, and a copy that still type-checks and passes Biome. --without-items, and the
 * project it leaves passing the lint and the tests: test/integration/init-without-items.test.ts.
 * In a project already started from the kit the copies are started again with --force, as
 * init allows.
 */

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);
/** This project's name now: the kit's, or the name a start gave it. */
const CURRENT_NAME: string = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).name;
/** The kit's name as init has it (a rename never rewrites scripts/init.ts). */
const KIT_NAME = /const KIT_NAME = "([^"]+)";/.exec(
  readFileSync(join(repoRoot, "scripts/init.ts"), "utf8"),
)?.[1];
const force = CURRENT_NAME === KIT_NAME ? [] : ["--force"];
/** The names the copies are started as: never this project's own, so each start renames. */
const [NAME, SCOPED_NAME, SCOPED_SLUG] =
  CURRENT_NAME === "acme-portal"
    ? ["acme-intranet", "@acme/intranet", "acme-intranet"]
    : ["acme-portal", "@acme/portal", "acme-portal"];

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(cwd: string, file: string, args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(file, args, {
      cwd,
      maxBuffer: 32 * 1024 * 1024,
      env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.test" },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

const git = (cwd: string, ...args: string[]) =>
  exec(cwd, "git", ["-c", "user.name=t", "-c", "user.email=t@example.test", ...args]);
const init = (cwd: string, ...args: string[]) =>
  exec(cwd, process.execPath, ["--import", "tsx", "scripts/init.ts", ...args]);

/** Every text file git lists in `dir` (outside migrations/) that contains `needle`. */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const { stdout } = await git(dir, "grep", "-l", "-F", "-I", needle, "--", ".", ":!migrations");
  const { stdout: untracked } = await git(dir, "ls-files", "--others", "--exclude-standard");
  const extra = untracked
    .split("\n")
    .filter((file) => file && readFileSync(join(dir, file), "utf8").includes(needle));
  return [...stdout.split("\n").filter(Boolean), ...extra].filter(
    (file) => !file.startsWith("migrations/") && file !== "scripts/init.ts",
  );
}

const envOf = (dir: string): Record<string, string> =>
  Object.fromEntries(
    readFileSync(join(dir, ".env"), "utf8")
      .split("\n")
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );

let plain: string;
let scoped: string;
let started: Outcome;
let startedScoped: Outcome;
/** tsc over the whole plain copy. */
let typeCheck: Promise<Outcome>;

beforeAll(async () => {
  [plain, scoped] = await Promise.all([copyOfProject("kit-init-"), copyOfProject("kit-init-")]);
  started = await init(plain, "--name", NAME, ...force);
  // The plain copy's type check runs while the other copy is started.
  typeCheck = exec(plain, process.execPath, ["node_modules/typescript/bin/tsc", "--noEmit"]);
  // Nothing is left unhandled if a test fails before awaiting it.
  typeCheck.catch(() => {});
  startedScoped = await init(scoped, "--name", SCOPED_NAME, ...force);
}, 60_000);

afterAll(() => {
  for (const dir of [plain, scoped]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("npm run init", { timeout: 60_000 }, () => {
  it("refuses an invalid package name, changing nothing", async () => {
    const copy = plain;
    const names = ["Acme", "acme portal", "_acme", "@acme", "acme/portal", "a".repeat(215)];
    const refusals = await Promise.all(names.map((name) => init(copy, "--name", name, "--force")));
    for (const [i, refused] of refusals.entries()) {
      expect(refused.code, names[i]).toBe(64);
      expect(refused.stderr).toContain("--name");
    }
    expect(JSON.parse(readFileSync(join(copy, "package.json"), "utf8")).name).toBe(NAME);
  });

  it("renames the package, the lock file, images, compose projects and the rest", async () => {
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(plain, "package.json"), "utf8")).name).toBe(NAME);
    const lock = JSON.parse(readFileSync(join(plain, "package-lock.json"), "utf8"));
    expect([lock.name, lock.packages[""].name]).toEqual([NAME, NAME]);
    expect(await filesContaining(plain, CURRENT_NAME)).toEqual([]);
    const prod = readFileSync(join(plain, "deploy/docker-compose.prod.yml"), "utf8");
    expect(prod).toMatch(new RegExp(`^name: ${NAME}$`, "m"));
    expect(prod).toContain(`image: ${NAME}-api:latest`);
    expect(readFileSync(join(plain, "deploy/docker-compose.yml"), "utf8")).toMatch(
      new RegExp(`^name: ${NAME}-dev$`, "m"),
    );
    expect(started.stdout).toContain("Next steps:");

    // A scoped name is npm's; images and compose projects get it without @ and /.
    expect(startedScoped.code, startedScoped.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(scoped, "package.json"), "utf8")).name).toBe(SCOPED_NAME);
    expect(readFileSync(join(scoped, "deploy/docker-compose.prod.yml"), "utf8")).toMatch(
      new RegExp(`^name: ${SCOPED_SLUG}$`, "m"),
    );
  });

  it("writes a git-ignored .env whose secrets production's configuration accepts", async () => {
    const env = envOf(plain);
    expect(env.SECRET_KEY).toMatch(/^[\w-]{64}$/);
    expect(env.METRICS_TOKEN).toMatch(/^[\w-]{43}$/);
    expect(envOf(scoped).SECRET_KEY).not.toBe(env.SECRET_KEY);
    const config = productionTestConfig({
      DATABASE_URL: "postgres://kit_tenant@db.internal:5432/kit",
      DATABASE_SYSTEM_URL: "postgres://kit_system@db.internal:5432/kit",
      SECRET_KEY: env.SECRET_KEY,
      METRICS_TOKEN: env.METRICS_TOKEN,
    });
    expect(config.secretKey).toBe(env.SECRET_KEY);
    expect((await git(plain, "check-ignore", ".env")).code).toBe(0);
  });

  it("refuses a second run and a dirty tree, and with --force changes nothing more", async () => {
    // Committed, as the next steps say: the tree is clean, the project started.
    expect((await git(plain, "add", "-A")).code).toBe(0);
    expect((await git(plain, "commit", "-q", "-m", `Start ${NAME}`)).code).toBe(0);
    const again = await init(plain, "--name", NAME);
    expect(again.code).toBe(64);
    expect(again.stderr).toContain(`already started as ${NAME}`);

    const fresh = await copyOfProject("kit-init-");
    try {
      writeFileSync(join(fresh, "notes.txt"), "work in progress\n");
      const dirty = await init(fresh, "--name", NAME);
      expect(dirty.code).toBe(64);
      expect(dirty.stderr).toContain("uncommitted changes");
      expect(JSON.parse(readFileSync(join(fresh, "package.json"), "utf8")).name).toBe(CURRENT_NAME);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }

    const env = readFileSync(join(plain, ".env"), "utf8");
    const forced = await init(plain, "--name", NAME, "--force");
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain(".env exists and was kept");
    expect(forced.stdout).not.toContain("Changed:");
    expect(readFileSync(join(plain, ".env"), "utf8")).toBe(env);
  });

  it("leaves a project that type-checks and passes Biome", async () => {
    const types = await typeCheck;
    expect(types.stdout + types.stderr).toBe("");
    const biome = await exec(plain, process.execPath, [
      "node_modules/@biomejs/biome/bin/biome",
      "check",
      ".",
    ]);
    expect(biome.code, biome.stdout + biome.stderr).toBe(0);
  });
});
