import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { migrateDatabase } from "../../src/core/database/index.js";
import { migrationsFolder } from "../../src/core/database/migrations.js";
import { TEST_DATABASE_URL } from "./app.js";

/**
 * Each test file gets its own database, cloned from a template that was migrated once. Clones
 * are cheap (a file copy), so files run in parallel without sharing or truncating anything.
 */

const TEMPLATE_PREFIX = "kit_template_";
const CLONE_PREFIX = "kit_test_";

/** The template's name changes whenever a migration does, so a stale template is never used. */
export function templateName(): string {
  const hash = createHash("sha256");
  for (const file of readdirSync(migrationsFolder())
    .filter((f) => f.endsWith(".sql"))
    .sort()) {
    hash.update(file).update(readFileSync(join(migrationsFolder(), file)));
  }
  return `${TEMPLATE_PREFIX}${hash.digest("hex").slice(0, 16)}`;
}

export function urlFor(database: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withMaintenanceClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates (once per migration set) and migrates the template. Called by the global setup. */
export async function ensureTemplate(): Promise<string> {
  const template = templateName();
  await withMaintenanceClient(async (client) => {
    await client.query("select pg_advisory_lock(hashtext('agency-kit:test-template'))");
    try {
      const exists = await client.query("select 1 from pg_database where datname = $1", [template]);
      if (exists.rowCount === 0) {
        const building = `${template}_building`;
        await client.query(`drop database if exists "${building}"`);
        await client.query(`create database "${building}"`);
        await migrateDatabase(urlFor(building));
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
      await client.query("select pg_advisory_unlock(hashtext('agency-kit:test-template'))");
    }
  });
  return template;
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database for one test file. Drop it in afterAll. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const template = templateName();
  const name = `${CLONE_PREFIX}${randomBytes(6).toString("hex")}`;
  await withMaintenanceClient(async (client) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`create database "${name}" template "${template}"`);
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
    drop: () =>
      withMaintenanceClient(async (client) => {
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
