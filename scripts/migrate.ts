/**
 * Applies pending migrations: to DATABASE_URL (as its role, which should own the schema), or
 * to the embedded PGlite database when no DATABASE_URL is set (development), which it claims
 * first: refused, with exit code 1, while another process (npm run dev) holds it.
 */
import { loadProcessConfig } from "../src/config.js";
import { migrateDatabase } from "../src/core/database/index.js";
import { createLogger } from "../src/core/logging/index.js";
import { EmbeddedDatabaseInUseError } from "../src/embedded-database.js";
import { createInfrastructure } from "../src/infrastructure.js";

const config = loadProcessConfig();
if (config.databaseUrl) {
  await migrateDatabase(config.databaseUrl);
  console.log("migrations applied");
} else {
  try {
    // Opening the embedded database applies the migrations.
    const infrastructure = await createInfrastructure(config, {
      role: "cli",
      logger: createLogger(config),
      withoutRedis: true,
    });
    await infrastructure.close();
  } catch (error) {
    if (!(error instanceof EmbeddedDatabaseInUseError)) throw error;
    console.error(`npm run migrate: nothing was applied. ${error.message}`);
    process.exit(1);
  }
  console.log(`migrations applied to the embedded database in ${config.pgliteDataDir}`);
}
