import { mkdirSync } from "node:fs";
import type { FastifyBaseLogger } from "fastify";
import { type DatabaseDriver, ENTER_TENANT_SQL } from "./database.js";
import { MIGRATIONS_SCHEMA, MIGRATIONS_TABLE, migrationsFolder } from "./migrations.js";
import { queryLogger } from "./query-logger.js";

/**
 * The embedded default for development: real PostgreSQL compiled to WebAssembly, stored in a
 * folder, migrated at start. In-process, so there is no round trip to save; each tenant
 * statement runs in a short transaction after entering the tenant.
 *
 * PGlite and its Drizzle driver are imported here, when the embedded database is opened, not
 * when this module is: a deployment with DATABASE_URL never loads them.
 */
export async function createPgliteDriver(
  dataDir: string,
  logger: FastifyBaseLogger,
): Promise<DatabaseDriver> {
  const [{ PGlite }, { drizzle }, { migrate }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("drizzle-orm/pglite"),
    import("drizzle-orm/pglite/migrator"),
  ]);
  // memory:// (the tests' embedded database) is no folder: creating it left a `memory:` folder.
  if (!dataDir.startsWith("memory://")) mkdirSync(dataDir, { recursive: true });
  const client = new PGlite(dataDir);
  const db = drizzle({ client, logger: queryLogger(logger) });
  await migrate(db, {
    migrationsFolder: migrationsFolder(),
    migrationsTable: MIGRATIONS_TABLE,
    migrationsSchema: MIGRATIONS_SCHEMA,
  });
  return {
    kind: "pglite",
    db,
    runInTenant(enter, statement, values) {
      return client.transaction(async (tx) => {
        await tx.query(ENTER_TENANT_SQL, [...enter]);
        const result = await tx.query<Record<string, unknown>>(statement.text, values);
        return result.rows;
      });
    },
    // One in-process connection: nothing to check out or give back.
    transaction: (fn) => db.transaction(fn),
    async ping() {
      await client.query("select 1");
    },
    close: () => client.close(),
  };
}
