import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isolatedRedisKeyPrefix, TEST_REDIS_URL } from "../helpers/app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

/**
 * `npm run shell` with piped input, as a script or a developer's `echo ... | npm run shell`
 * gives it: the kit's objects are there, expressions that query the database and Redis
 * answer in order, and the end of the input closes everything so the process ends by itself.
 */

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
/** The clone of the template carries every migration. */
const migrationCount = (
  JSON.parse(readFileSync(`${repoRoot}/migrations/meta/_journal.json`, "utf8")) as {
    entries: unknown[];
  }
).entries.length;

let testDatabase: TestDatabase;
beforeAll(async () => {
  testDatabase = await createTestDatabase();
});
afterAll(async () => {
  await testDatabase?.drop();
});

interface Session {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the shell on `input` and waits for it to end by itself (killed after 60 s). */
function shell(input: string): Promise<Session> {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/shell.ts"], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? "",
      ENVIRONMENT: "test",
      // The owner: the shell is a developer's tool, run with the development login.
      DATABASE_URL: testDatabase.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: isolatedRedisKeyPrefix(),
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  child.stdin.end(input);
  return new Promise((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe("npm run shell", () => {
  let session: Session;
  beforeAll(async () => {
    session = await shell(
      [
        "const migrations = await database.run(sql`select current_database() as name, count(*)::int as applied from drizzle.migrations`)",
        "JSON.stringify(migrations)",
        "await redis.ping()",
        "const x = 20 +",
        "  22",
        "'answer ' + x",
        "(await app.inject({ url: '/health/ready' })).json().status",
        "Object.keys(modules).includes('rbac') && typeof modules.rbac.rbacModule",
        "[typeof cache.getOrSet, typeof jobs.enqueue, typeof tokens.signAccessToken, config.environment].join(' ')",
        "",
      ].join("\n"),
    );
  }, 90_000);

  it("ends by itself once the input ends, having closed the database and Redis", () => {
    expect(session.signal, session.stderr).toBeNull();
    expect(session.code, session.stderr).toBe(0);
    expect(session.stdout.trimEnd()).toMatch(
      /closed the app, its database and its Redis connections$/,
    );
  });

  it("prints a banner naming the database without its login's password", () => {
    const url = new URL(testDatabase.url);
    expect(session.stdout).toContain(`  database: postgres://${url.host}/${testDatabase.name}\n`);
    expect(session.stdout).toContain("await works at the prompt");
    if (url.password) expect(session.stdout).not.toContain(url.password);
  });

  it("answers each input in order: the database, Redis, the app, the modules", () => {
    const answers = session.stdout
      .slice(session.stdout.indexOf("kit> "))
      .split("kit> ")
      // A multi-line input's continuation prompt: "... " up to Node 22, "| " from Node 24.
      .map((answer) => answer.trim().replace(/^(\.\.\.|\|) /, ""))
      .filter((answer) => !["", "undefined"].includes(answer))
      .filter((answer) => !answer.startsWith("closed"));
    expect(answers).toEqual([
      `'[{"name":"${testDatabase.name}","applied":${migrationCount}}]'`,
      "'PONG'",
      "'answer 42'",
      "'ready'",
      "'function'",
      "'function function function test'",
    ]);
  });
});
