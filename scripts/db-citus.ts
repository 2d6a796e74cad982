/**
 * Checks that the schema of DATABASE_URL can move to Citus distributed by tenant_id, and prints
 * the SQL that moves it (reference tables, then distributed tables, referenced tables first).
 * Exits 1 with the violations when it cannot, 2 without DATABASE_URL. Reads the catalog only.
 * The rules: scripts/citus-readiness.ts; when to use it: docs/operations.md, "Past one machine".
 */
import pg from "pg";
import { loadProcessConfig } from "../src/config.js";
import { checkCitusReadiness, citusMigrationSql, readCatalog } from "./citus-readiness.js";

const config = loadProcessConfig({ LOG_LEVEL: "warn" });
if (!config.databaseUrl) {
  console.error("DATABASE_URL is not set: the embedded database cannot run Citus.");
  process.exit(2);
}
const client = new pg.Client({ connectionString: config.databaseUrl });
await client.connect();
try {
  const { violations, plan } = checkCitusReadiness(await readCatalog(client));
  if (violations.length > 0) {
    console.error(`The schema cannot move to Citus as it is (${violations.length} problem(s)):`);
    for (const { table, problem } of violations) console.error(`  ${table}: ${problem}`);
    process.exitCode = 1;
  } else {
    process.stdout.write(citusMigrationSql(plan));
  }
} finally {
  await client.end();
}
