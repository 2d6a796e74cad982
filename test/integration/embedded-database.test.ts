/**
 * The embedded database as a developer meets it: `npm run dev` (src/main.ts, development, no
 * DATABASE_URL) on a folder of its own. The first start says what it is doing and where; while
 * the server holds the folder, `npm run seed`, `npm run migrate`, `npm run platform-admin` and a
 * second server are refused with the holder's name and write nothing; once it has stopped the seed works, twice, and the next server start
 * serves what it wrote. A lock left by a killed process does not stand in the way.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, startServer } from "../helpers/server-process.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

/** Creating and migrating a PGlite database takes 10 to 40 s on a busy 2-core machine. */
const FIRST_START_MS = 120_000;

let folder: string;
let dataDir: string;
beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), "kit-embedded-"));
  dataDir = join(folder, "pglite");
});
afterAll(() => {
  if (folder) rmSync(folder, { recursive: true, force: true });
});

/** What `npm run dev` sees, minus .env and the shell: development on the embedded database. */
const developmentEnv = () => ({
  ENVIRONMENT: "development",
  DATABASE_URL: "",
  REDIS_URL: "",
  PGLITE_DATA_DIR: dataDir,
  LOG_PRETTY: "false",
});

const devServer = (listenWithinMs = FIRST_START_MS) =>
  startServer(developmentEnv(), { entry: "main", listenWithinMs });

const seed = () =>
  run(process.execPath, ["--import", "tsx", "scripts/seed.ts"], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", ...developmentEnv() },
  });

async function seedRefused(): Promise<{ code: unknown; stdout: string; stderr: string }> {
  try {
    await seed();
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
  throw new Error("npm run seed succeeded while the server held the database");
}

/** How a command run while the server holds the database ended: its exit code and stderr. */
async function commandRefused(...args: string[]): Promise<{ code: unknown; stderr: string }> {
  try {
    await run(process.execPath, ["--import", "tsx", ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "", ...developmentEnv() },
    });
  } catch (error) {
    const failed = error as { code?: unknown; stderr?: string };
    return { code: failed.code, stderr: failed.stderr ?? "" };
  }
  throw new Error(`${args.join(" ")} succeeded while the server held the database`);
}

async function signIn(server: ServerProcess, password: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${server.port}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "demo@seed.example.com", password }),
  });
  return response.status;
}

async function stop(server: ServerProcess): Promise<void> {
  server.child.kill("SIGTERM");
  const exit = await server.exited;
  expect(exit.code, server.stderr()).toBe(0);
}

describe("the embedded database of npm run dev", () => {
  it(
    "announces its first start, with the folder, before the wait, and the wait once over",
    async () => {
      const server = await devServer();
      const messages = server.messages();
      const announced = messages.findIndex((msg) => msg.startsWith("First start: "));
      const ready = messages.findIndex((msg) => msg.startsWith("The embedded database is ready"));
      const listening = messages.findIndex((msg) => msg.startsWith("Server listening at "));
      expect(messages[announced]).toBe(
        `First start: creating the embedded database in ${dataDir} and migrating it. This takes 10 to 40 seconds, once; later starts reuse it.`,
      );
      expect(messages[ready]).toMatch(
        /^The embedded database is ready \(created and migrated in [\d.]+ s\)$/,
      );
      expect(announced).toBeLessThan(ready);
      expect(ready).toBeLessThan(listening);
      expect(existsSync(`${dataDir}.lock`)).toBe(true);

      // While it runs, the seed is refused with the holder's name, and writes nothing.
      const refusal = await seedRefused();
      expect(refusal.code).toBe(1);
      expect(refusal.stderr).toContain(
        `npm run seed: nothing was written. The embedded database in ${dataDir} is in use by process ${server.child.pid} (`,
      );
      expect(refusal.stderr).toContain("src/main.ts");
      expect(refusal.stdout).not.toContain("created");
      expect(await signIn(server, "demo password 1234")).toBe(401);

      // So is a second server on the same folder.
      const second = await devServer(30_000).then(
        () => "listening",
        (error: Error) => error.message,
      );
      expect(second).toMatch(/exited \(1\) before listening/);
      expect(second).toContain(`is in use by process ${server.child.pid}`);

      // And the other commands that open it (src/infrastructure.ts claims it for each).
      const holder = `The embedded database in ${dataDir} is in use by process ${server.child.pid} (`;
      const migrate = await commandRefused("scripts/migrate.ts");
      expect(migrate.code, migrate.stderr).toBe(1);
      expect(migrate.stderr).toContain(`npm run migrate: nothing was applied. ${holder}`);
      const admins = await commandRefused("scripts/platform-admin.ts", "list");
      expect(admins.code, admins.stderr).toBe(1);
      expect(admins.stderr).toContain(`npm run platform-admin: nothing was changed. ${holder}`);

      await stop(server);
      expect(existsSync(`${dataDir}.lock`)).toBe(false);
    },
    FIRST_START_MS * 2,
  );

  it(
    "is seeded once the server has stopped, idempotently, and the next start serves the data",
    async () => {
      const first = await seed();
      expect(first.stdout).toContain("created user demo@seed.example.com");
      const second = await seed();
      expect(second.stdout).toContain("user demo@seed.example.com exists; kept");
      expect(second.stdout).not.toContain("created");

      const startedAt = performance.now();
      const server = await devServer(60_000);
      const seconds = (performance.now() - startedAt) / 1000;
      // Reported, not asserted: the machine running the suite may be busy.
      console.info(
        `a later start of the development server listened after ${seconds.toFixed(1)} s`,
      );
      expect(server.messages().some((msg) => msg.startsWith("First start"))).toBe(false);
      const password = /"password": "([^"]+)"/.exec(second.stdout)?.[1] as string;
      expect(await signIn(server, password)).toBe(200);
      await stop(server);
    },
    FIRST_START_MS,
  );

  it(
    "takes over a lock left by a process that was killed",
    async () => {
      const server = await devServer(60_000);
      server.child.kill("SIGKILL");
      await server.exited;
      expect(existsSync(`${dataDir}.lock`)).toBe(true);
      const { stdout } = await seed();
      expect(stdout).toContain("user demo@seed.example.com exists; kept");
      expect(existsSync(`${dataDir}.lock`)).toBe(false);
    },
    FIRST_START_MS,
  );
});
