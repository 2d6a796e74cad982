import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { migrateDatabase } from "../../src/core/database/index.js";
import { migrationsFolder } from "../../src/core/database/migrations.js";
import { TEST_DATABASE_URL } from "./app.js";

/**
 * Each test file gets its own database, cloned from a template that was migrated once. Clones
 * are cheap (a file copy), so files run in parallel without sharing or truncating anything.
 *
 * The kit connects to it as production does: its tenant pool as TEST_TENANT_LOGIN (granted
 * app_tenant_login: it may assume app_tenant only) and its system pool as TEST_SYSTEM_LOGIN
 * (granted app_system_login). Both are non-superuser login roles, made once per server by the
 * global setup; each one's password is its name, for servers that ask for one (the Docker
 * PostgreSQL of `npm run services`): they exist on test servers only.
 */

const TEMPLATE_PREFIX = "kit_template_";
const CLONE_PREFIX = "kit_test_";
export const TEST_TENANT_LOGIN = "kit_test_tenant";
export const TEST_SYSTEM_LOGIN = "kit_test_system";
const TEMPLATE_LOCK = "select pg_advisory_lock(hashtext('agency-kit:test-template'))";
const TEMPLATE_UNLOCK = "select pg_advisory_unlock(hashtext('agency-kit:test-template'))";

/**
 * The tables of the test fixtures (test/fixtures/notes-module/), applied after the migrations:
 * test databases only, never a migration of the kit.
 */
const FIXTURE_SQL = [
  fileURLToPath(new URL("../fixtures/notes-module/notes.sql", import.meta.url)),
] as const;

/**
 * The template's name changes whenever a migration, the migrations' journal (the timestamps
 * the migrator records them under) or a fixture's SQL does, so a stale template is never used.
 */
export function templateName(): string {
  const hash = createHash("sha256");
  for (const file of readdirSync(migrationsFolder())
    .filter((f) => f.endsWith(".sql"))
    .sort()) {
    hash.update(file).update(readFileSync(join(migrationsFolder(), file)));
  }
  hash.update(readFileSync(join(migrationsFolder(), "meta", "_journal.json")));
  for (const file of FIXTURE_SQL) hash.update(basename(file)).update(readFileSync(file));
  return `${TEMPLATE_PREFIX}${hash.digest("hex").slice(0, 16)}`;
}

/**
 * Migrates the empty database at `url` (as its owner) and adds the fixtures' tables: what a
 * test database holds. For a database a test makes outside the template (a cluster of its own).
 */
export async function migrateTestDatabase(url: string): Promise<void> {
  await migrateDatabase(url);
  await withClient(async (client) => {
    for (const file of FIXTURE_SQL) await client.query(readFileSync(file, "utf8"));
  }, url);
}

/** The URL of `database` on the test server, as `login` (default: TEST_DATABASE_URL's). */
export function urlFor(database: string, login?: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${database}`;
  if (login !== undefined) {
    url.username = login;
    url.password = login;
  }
  return url.toString();
}

/** Runs `fn` with a client of its own connected to `url` (default: the server's maintenance database). */
export async function withClient<T>(
  fn: (client: pg.Client) => Promise<T>,
  url: string = TEST_DATABASE_URL,
): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * A login role granted `groups` (and nothing else), made if missing. Roles are cluster-wide and
 * test processes may run at once: creating one that another process has just made is not an
 * error, and the template lock keeps two processes from granting at the same time.
 */
export async function ensureLoginRole(login: string, groups: readonly string[]): Promise<void> {
  await withClient(async (client) => {
    await client.query(TEMPLATE_LOCK);
    try {
      await client.query(`
        do $$
        begin
          create role ${quoteIdent(login)} login nosuperuser nocreatedb nocreaterole nobypassrls inherit;
        exception when duplicate_object or unique_violation then null;
        end $$`);
      await client.query(
        `alter role ${quoteIdent(login)} password '${login.replaceAll("'", "''")}'`,
      );
      for (const group of groups) {
        await client.query(`grant ${quoteIdent(group)} to ${quoteIdent(login)}`);
      }
    } finally {
      await client.query(TEMPLATE_UNLOCK);
    }
  });
}

/**
 * Creates (once per migration set) and migrates the template, with the fixtures' tables, and
 * makes the two test logins (the migration makes the groups they are granted). Called by the
 * global setup.
 */
export async function ensureTemplate(): Promise<string> {
  const template = templateName();
  await withClient(async (client) => {
    await client.query(TEMPLATE_LOCK);
    try {
      const exists = await client.query("select 1 from pg_database where datname = $1", [template]);
      if (exists.rowCount === 0) {
        const building = `${template}_building`;
        await client.query(`drop database if exists "${building}"`);
        await client.query(`create database "${building}"`);
        await migrateTestDatabase(urlFor(building));
        await client.query(`alter database "${building}" rename to "${template}"`);
      }
      // When it was last used, so that a template another checkout is still cloning from (with
      // other migrations) is kept while one nobody used for an hour is dropped.
      await client.query(`comment on database "${template}" is '${Date.now()}'`);
      const stale = await client.query<{ datname: string }>(
        `select datname from pg_database d
          where datname like $1 and datname <> $2
            and coalesce(nullif(shobj_description(d.oid, 'pg_database'), '')::bigint, 0) < $3`,
        [`${TEMPLATE_PREFIX}%`, template, Date.now() - 3_600_000],
      );
      for (const { datname } of stale.rows) {
        await client.query(`drop database if exists "${datname}" with (force)`).catch(() => {});
      }
    } finally {
      await client.query(TEMPLATE_UNLOCK);
    }
  });
  await ensureLoginRole(TEST_TENANT_LOGIN, ["app_tenant_login"]);
  await ensureLoginRole(TEST_SYSTEM_LOGIN, ["app_system_login"]);
  return template;
}

export interface TestDatabase {
  readonly name: string;
  /** As the owner (the server's superuser), as migrations run. */
  readonly url: string;
  /** As TEST_TENANT_LOGIN, for DATABASE_URL: the tenant pool. */
  readonly tenantUrl: string;
  /** As TEST_SYSTEM_LOGIN, for DATABASE_SYSTEM_URL: the system pool. */
  readonly systemUrl: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database for one test file. Drop it in afterAll. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const template = templateName();
  const name = `${CLONE_PREFIX}${randomBytes(6).toString("hex")}`;
  await withClient(async (client) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`create database "${name}" template "${template}"`);
        // A clone does not inherit the template's database privileges: revoke again what the
        // tenant_context_signature migration revoked.
        await client.query(`revoke temporary on database "${name}" from public`);
        return;
      } catch (error) {
        // 55006: another clone of the same template is being made right now.
        if ((error as { code?: string }).code !== "55006" || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  });
  return {
    name,
    url: urlFor(name),
    tenantUrl: urlFor(name, TEST_TENANT_LOGIN),
    systemUrl: urlFor(name, TEST_SYSTEM_LOGIN),
    drop: () =>
      withClient(async (client) => {
        await client.query(`drop database if exists "${name}" with (force)`);
      }),
  };
}

export interface TestDatabaseClient {
  readonly database: TestDatabase;
  /** Connected as the owner (the server's superuser), as migrations run. */
  readonly client: pg.Client;
  close(): Promise<void>;
}

/** A fresh database and one connection to it, for tests that speak SQL directly. */
export async function connectToTestDatabase(): Promise<TestDatabaseClient> {
  const database = await createTestDatabase();
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  return {
    database,
    client,
    async close() {
      await client.end();
      await database.drop();
    },
  };
}
