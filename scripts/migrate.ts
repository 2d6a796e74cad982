/**
 * Applies pending migrations: to DATABASE_URL (as its role, which should own the schema), or
 * to the embedded PGlite database when no DATABASE_URL is set (development).
 */
import { loadProcessConfig } from "../src/config.js";
import { migrateDatabase, openDatabase } from "../src/core/database/index.js";
import { createLogger } from "../src/core/logging/index.js";

const config = loadProcessConfig();
if (config.databaseUrl) {
  await migrateDatabase(config.databaseUrl);
  console.log("migrations applied");
} else {
  // Opening the embedded database applies the migrations.
  const database = await openDatabase(config, createLogger(config));
  await database.close();
  console.log(`migrations applied to the embedded database in ${config.pgliteDataDir}`);
}
