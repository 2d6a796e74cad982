import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../../config.js";
import { createDatabase, type Database } from "./database.js";
import { createPgDriver } from "./pg-driver.js";
import { createPgliteDriver } from "./pglite-driver.js";

/**
 * Opens the database the configuration names: PostgreSQL at DATABASE_URL, or, in development
 * and test only, the embedded PGlite (stored under PGLITE_DATA_DIR, migrated at start).
 */
export async function openDatabase(config: Config, logger: FastifyBaseLogger): Promise<Database> {
  if (config.databaseUrl) {
    const driver = createPgDriver(
      {
        url: config.databaseUrl,
        poolSize: config.databasePoolSize,
        preparedStatements: config.databasePreparedStatements,
      },
      logger,
    );
    return createDatabase(driver, logger);
  }
  // loadConfig refuses a missing DATABASE_URL in staging and production; this is a second lock.
  if (config.environment !== "development" && config.environment !== "test") {
    throw new Error("The embedded database is for development and test only");
  }
  const dataDir = config.environment === "test" ? "memory://" : config.pgliteDataDir;
  logger.warn(
    { dataDir },
    "DATABASE_URL is not set: using the embedded PGlite database (development only)",
  );
  return createDatabase(await createPgliteDriver(dataDir, logger), logger);
}
