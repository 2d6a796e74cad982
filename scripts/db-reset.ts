/**
 * Starts the development database over: drops the database DATABASE_URL names (or deletes the
 * embedded PGlite folder), creates it empty, applies every migration, and with --seed runs the
 * demo seed (npm run seed). Refused in staging and production, whatever else the configuration
 * holds, and refused while another process holds the embedded database or, unless --force,
 * while other sessions are connected to the PostgreSQL one.
 *
 *   npm run db:reset                  drop, create, migrate
 *   npm run db:reset -- --seed        the same, then the demo seed
 *   npm run db:reset -- --force       also end the other sessions on the database
 *
 * Exit codes: 0 done, 1 refused or failed (nothing was dropped unless it says so), 2 bad usage.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { type Config, loadProcessConfig } from "../src/config.js";
import { migrateDatabase, openDatabase } from "../src/core/database/index.js";
import { createLogger } from "../src/core/logging/index.js";
import { claimEmbeddedDatabase, EmbeddedDatabaseInUseError } from "../src/embedded-database.js";

const USAGE = "usage: npm run db:reset [-- --seed] [-- --force]";

/** Databases of the server itself: resetting one would take others' data with it. */
const SERVER_DATABASES = new Set(["postgres", "template0", "template1"]);

class Refusal extends Error {}

let options: { seed: boolean; force: boolean };
try {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      seed: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
    },
  });
  options = { seed: values.seed, force: values.force };
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}

// Checked before the configuration is: a production environment with an incomplete
// configuration is refused for what it is, not for the variables it lacks.
if (existsSync(".env")) process.loadEnvFile(".env");
const environment = process.env.ENVIRONMENT?.trim();
if (environment === "production" || environment === "staging") {
  console.error(
    `npm run db:reset drops the whole database and is refused in ${environment} (ENVIRONMENT=${environment}). Nothing was changed.`,
  );
  process.exit(1);
}
const config = loadProcessConfig({ LOG_LEVEL: "warn" });

/** The database's address as the developer knows it, without the login's password. */
function described(url: URL): string {
  return `${decodeURIComponent(url.pathname.slice(1))} on ${url.hostname}:${url.port || "5432"}`;
}

/** DATABASE_URL with a database of its own, without the password, for the refusal to show. */
function exampleUrl(url: URL): string {
  const example = new URL(url);
  example.password = "";
  example.pathname = "/kit";
  example.search = "";
  return example.toString();
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

async function resetPostgres(databaseUrl: string): Promise<void> {
  const target = new URL(databaseUrl);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (name === "" || SERVER_DATABASES.has(name)) {
    throw new Refusal(
      `DATABASE_URL points at the server's own database "${name || "postgres"}", which db:reset will not drop: give the kit a database of its own (for example ${exampleUrl(target)}). Nothing was changed.`,
    );
  }
  const client = await connectToServer(databaseUrl);
  try {
    const sessions = await client.query<{ application_name: string; count: number }>(
      `select coalesce(nullif(application_name, ''), 'unnamed') as application_name, count(*)::int as count
         from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()
        group by 1 order by 1`,
      [name],
    );
    if (sessions.rows.length > 0 && !options.force) {
      const who = sessions.rows.map((row) => `${row.count} ${row.application_name}`).join(", ");
      throw new Refusal(
        `The database ${described(target)} has other sessions (${who}): stop them (npm run dev, the worker, a psql) and run this again, or pass --force to end them. Nothing was changed.`,
      );
    }
    try {
      await client.query(
        `drop database if exists ${quoteIdent(name)}${options.force ? " with (force)" : ""}`,
      );
    } catch (error) {
      // 55006: a session connected after the check.
      if ((error as { code?: string }).code !== "55006") throw error;
      throw new Refusal(
        `The database ${described(target)} has a new session: stop it and run this again, or pass --force. Nothing was changed.`,
      );
    }
    console.log(`dropped the database ${described(target)}`);
    await client.query(`create database ${quoteIdent(name)}`);
  } finally {
    await client.end();
  }
  const startedAt = performance.now();
  await migrateDatabase(databaseUrl);
  console.log(`created and migrated it in ${seconds(startedAt)} s`);
}

/**
 * A connection to the server's maintenance database (postgres, else template1) as the login of
 * `databaseUrl`: a database is dropped and created from another one.
 */
async function connectToServer(databaseUrl: string): Promise<pg.Client> {
  const connect = async (maintenance: string) => {
    const url = new URL(databaseUrl);
    url.pathname = `/${maintenance}`;
    const client = new pg.Client({
      connectionString: url.toString(),
      application_name: "agency-kit-db-reset",
    });
    await client.connect();
    return client;
  };
  try {
    return await connect("postgres");
  } catch (error) {
    // 3D000: the server has no database named postgres.
    if ((error as { code?: string }).code !== "3D000") throw error;
    return connect("template1");
  }
}

async function resetEmbedded(config: Config): Promise<void> {
  if (config.environment !== "development") {
    console.log(
      `With ENVIRONMENT=${config.environment} the embedded database lives in memory: there is nothing to reset.`,
    );
    return;
  }
  let claim: ReturnType<typeof claimEmbeddedDatabase>;
  try {
    claim = claimEmbeddedDatabase(config, () => {});
  } catch (error) {
    if (!(error instanceof EmbeddedDatabaseInUseError)) throw error;
    throw new Refusal(`Nothing was changed. ${error.message}`);
  }
  if (!claim) throw new Error("the embedded database was not claimed");
  try {
    const { dataDir } = claim;
    const shown = relative(process.cwd(), dataDir).startsWith("..")
      ? dataDir
      : relative(process.cwd(), dataDir);
    // A mistyped PGLITE_DATA_DIR must not delete a folder that is something else.
    if (
      existsSync(dataDir) &&
      readdirSync(dataDir).length > 0 &&
      !existsSync(join(dataDir, "PG_VERSION"))
    ) {
      throw new Refusal(
        `PGLITE_DATA_DIR=${config.pgliteDataDir} holds files but no database (no PG_VERSION): db:reset deletes only a database folder. Nothing was changed.`,
      );
    }
    rmSync(dataDir, { recursive: true, force: true });
    console.log(`deleted the embedded database in ${shown}`);
    const startedAt = performance.now();
    console.log("creating and migrating it (10 to 40 seconds)");
    // Opening the embedded database creates and migrates it.
    const database = await openDatabase(config, createLogger(config, undefined, "cli"));
    await database.close();
    console.log(`created and migrated it in ${seconds(startedAt)} s`);
  } finally {
    claim.release();
  }
}

const seconds = (since: number) => Math.round((performance.now() - since) / 100) / 10;

try {
  if (config.databaseUrl) await resetPostgres(config.databaseUrl);
  else await resetEmbedded(config);
} catch (error) {
  if (!(error instanceof Refusal)) throw error;
  console.error(`npm run db:reset: ${error.message}`);
  process.exit(1);
}

if (options.seed) {
  // In a process of its own, as `npm run seed` runs: it claims the embedded database itself.
  const seed = fileURLToPath(new URL("./seed.ts", import.meta.url));
  const seeded = spawnSync(process.execPath, ["--import", "tsx", seed], { stdio: "inherit" });
  process.exitCode = seeded.status ?? 1;
}
