import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimEmbeddedDatabase } from "../../src/embedded-database.js";
import { TEST_DATABASE_URL, testConfig } from "../helpers/app.js";
import { urlFor, withClient } from "../helpers/test-database.js";

/**
 * `npm run db:reset` on a throwaway database of the test server (made here with a random name,
 * dropped after), and on embedded databases in temporary folders: what it drops, that the
 * result is migrated, and everything it refuses to touch.
 */

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);
const migrationCount = (
  JSON.parse(readFileSync(join(repoRoot, "migrations/meta/_journal.json"), "utf8")) as {
    entries: unknown[];
  }
).entries.length;

const name = `kit_test_reset_${randomBytes(6).toString("hex")}`;
const databaseUrl = urlFor(name);
const server = `${new URL(TEST_DATABASE_URL).hostname}:${new URL(TEST_DATABASE_URL).port || "5432"}`;
const folders: string[] = [];

const onServer = (query: string) => withClient((client) => client.query(query));
const inDatabase = <T>(fn: (client: pg.Client) => Promise<T>) => withClient(fn, databaseUrl);

/** The tables a test leaves behind to see whether the reset dropped them. */
const hasLeftover = () =>
  inDatabase(
    async (client) =>
      (await client.query("select to_regclass('public.leftover') as found")).rows[0].found !== null,
  );

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the script as `npm run db:reset` does, with only `env` (no developer's .env wins). */
async function reset(env: Record<string, string>, ...args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ["--import", "tsx", "scripts/db-reset.ts", ...args],
      {
        cwd: repoRoot,
        env: { PATH: process.env.PATH ?? "", REDIS_URL: "", ...env },
        timeout: 150_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

const development = { ENVIRONMENT: "development", DATABASE_URL: databaseUrl };

beforeAll(async () => {
  await onServer(`create database "${name}"`);
});
afterAll(async () => {
  await onServer(`drop database if exists "${name}" with (force)`);
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

describe("npm run db:reset on PostgreSQL", () => {
  it("drops what the database held, creates it again and applies every migration", async () => {
    await inDatabase((client) => client.query("create table leftover (id int)"));
    const outcome = await reset(development);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stdout).toContain(`dropped the database ${name} on ${server}`);
    expect(await hasLeftover()).toBe(false);
    const applied = await inDatabase(
      async (client) =>
        (await client.query("select count(*)::int as count from drizzle.migrations")).rows[0].count,
    );
    expect(applied).toBe(migrationCount);
    const tenants = await inDatabase(
      async (client) => (await client.query("select count(*)::int as count from tenants")).rows[0],
    );
    expect(tenants).toEqual({ count: 0 });
  });

  it("refuses while another session is connected, and with --force ends it", async () => {
    await inDatabase((client) => client.query("create table leftover (id int)"));
    const other = new pg.Client({ connectionString: databaseUrl, application_name: "psql" });
    await other.connect();
    const ended = new Promise<Error>((resolve) => other.on("error", resolve));
    try {
      const refused = await reset(development);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`The database ${name} on ${server} has other sessions`);
      expect(refused.stderr).toContain("1 psql");
      expect(await hasLeftover()).toBe(true);

      const forced = await reset(development, "--force");
      expect(forced.code, forced.stderr).toBe(0);
      expect(await hasLeftover()).toBe(false);
      expect((await ended).message).toMatch(/terminat/);
    } finally {
      await other.end().catch(() => {});
    }
  });

  it("with --seed, runs the demo seed on the new database", async () => {
    const outcome = await reset(development, "--seed");
    expect(outcome.code, outcome.stderr).toBe(0);
    const slugs = await inDatabase(
      async (client) =>
        (await client.query<{ slug: string }>("select slug from tenants order by slug")).rows,
    );
    expect(slugs.map((row) => row.slug)).toEqual(["acme-corporation", "globex"]);
  });

  it.each(["production", "staging"])(
    "is refused in %s, before the configuration is read, changing nothing",
    async (environment) => {
      await inDatabase((client) => client.query("create table if not exists leftover (id int)"));
      const outcome = await reset({ ENVIRONMENT: environment, DATABASE_URL: databaseUrl });
      expect(outcome.code).toBe(1);
      expect(outcome.stderr.trim()).toBe(
        `npm run db:reset drops the whole database and is refused in ${environment} (ENVIRONMENT=${environment}). Nothing was changed.`,
      );
      expect(await hasLeftover()).toBe(true);
    },
  );

  it("refuses the server's own database", async () => {
    const outcome = await reset({ ENVIRONMENT: "development", DATABASE_URL: urlFor("postgres") });
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain(
      `DATABASE_URL points at the server's own database "postgres", which db:reset will not drop`,
    );
  });

  it("refuses arguments it does not take", async () => {
    const outcome = await reset(development, "--seeds");
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain("usage: npm run db:reset");
  });
});

describe("npm run db:reset on the embedded database", () => {
  const embedded = () => {
    const folder = mkdtempSync(join(tmpdir(), "kit-db-reset-"));
    folders.push(folder);
    const dataDir = join(folder, "pglite");
    return {
      dataDir,
      env: { ENVIRONMENT: "development", DATABASE_URL: "", PGLITE_DATA_DIR: dataDir },
    };
  };

  it("is refused while a running process holds it, deleting nothing", async () => {
    const { dataDir, env } = embedded();
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, "PG_VERSION"), "17\n");
    // This test process holds it, as a running `npm run dev` does.
    const claim = claimEmbeddedDatabase(testConfig(env), () => {});
    try {
      const outcome = await reset(env);
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain(
        `npm run db:reset: Nothing was changed. The embedded database in ${dataDir} is in use by process ${process.pid}`,
      );
      expect(existsSync(join(dataDir, "PG_VERSION"))).toBe(true);
    } finally {
      claim?.release();
    }
  });

  it("refuses a folder that holds something other than a database", async () => {
    const { dataDir, env } = embedded();
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, "notes.txt"), "mine\n");
    const outcome = await reset(env);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain("holds files but no database (no PG_VERSION)");
    expect(existsSync(join(dataDir, "notes.txt"))).toBe(true);
  });

  it("deletes the folder, creates the database again and migrates it", async () => {
    const { dataDir, env } = embedded();
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, "PG_VERSION"), "17\n");
    writeFileSync(join(dataDir, "left-behind"), "\n");
    const outcome = await reset(env);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stdout).toContain(`deleted the embedded database in ${dataDir}`);
    expect(existsSync(join(dataDir, "left-behind"))).toBe(false);
    const database = new PGlite(dataDir);
    try {
      const { rows } = await database.query<{ count: number }>(
        "select count(*)::int as count from drizzle.migrations",
      );
      expect(rows).toEqual([{ count: migrationCount }]);
    } finally {
      await database.close();
    }
    // The lock is released with the process.
    expect(existsSync(`${dataDir}.lock`)).toBe(false);
  }, 180_000);
});
