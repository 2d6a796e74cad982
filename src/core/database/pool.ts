import pg from "pg";
import type { Config } from "../../config.js";

/** The PostgreSQL connection pool, or undefined when no DATABASE_URL is configured. */
export function createDatabasePool(config: Config): pg.Pool | undefined {
  if (!config.databaseUrl) return undefined;
  return new pg.Pool({
    connectionString: config.databaseUrl,
    max: config.databasePoolSize,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: "agency-kit",
  });
}

export async function pingDatabase(pool: pg.Pool): Promise<void> {
  await pool.query("select 1");
}
