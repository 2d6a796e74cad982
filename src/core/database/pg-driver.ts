import { drizzle } from "drizzle-orm/node-postgres";
import type { FastifyBaseLogger } from "fastify";
import pg from "pg";
import { CONNECTION_WAIT_MS, type DatabaseDriver, ENTER_TENANT_SQL } from "./database.js";
import { sqlStateOf } from "./errors.js";
import { forgetPreparedStatements, StatementBatch, statementName } from "./pg-statement-batch.js";
import { isDebug, queryLogger } from "./query-logger.js";

export interface PgDriverOptions {
  url: string;
  poolSize: number;
  /** Named prepared statements; turn off behind PgBouncer older than 1.21 in transaction mode. */
  preparedStatements: boolean;
  applicationName?: string;
}

/**
 * Behind a transaction pooler that does not track prepared statements (PgBouncer before 1.21),
 * a server connection may lack a statement the client prepared on another one (SQLSTATE 26000),
 * or already hold one of the same name that another client prepared on it (42P05).
 */
const MOVED_STATEMENT_CODES = new Set(["26000", "42P05"]);

export function createPgDriver(
  options: PgDriverOptions,
  logger: FastifyBaseLogger,
): DatabaseDriver {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize,
    connectionTimeoutMillis: CONNECTION_WAIT_MS,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? "agency-kit",
  });
  // An idle client that loses its connection emits here; without a listener it would crash.
  pool.on("error", (error) => logger.warn({ err: error }, "idle database connection failed"));
  // A checked-out client whose server goes away (a restart sends 57P01 to every session) emits
  // `error` on itself, where the pool does not listen: without this the process would exit.
  // The query in flight, if any, fails on its own; the pool discards the broken client on release.
  pool.on("connect", (client) => {
    client.on("error", (error) => {
      logger.warn({ err: error }, "database connection failed while in use");
    });
  });
  const db = drizzle({ client: pool, logger: queryLogger(logger) });
  const enterName = options.preparedStatements
    ? statementName("enter_tenant", ENTER_TENANT_SQL)
    : "";

  return {
    kind: "postgres",
    db,
    async runInTenant(enter, statement, values) {
      const batch = () =>
        new StatementBatch([
          { name: enterName, text: ENTER_TENANT_SQL, values: enter },
          {
            name: options.preparedStatements ? statement.name : "",
            text: statement.text,
            values,
          },
        ]);
      const client = await pool.connect();
      try {
        if (isDebug(logger)) logger.debug({ statement: statement.name }, "query");
        try {
          return (await client.query(batch()).done)[1]?.rows ?? [];
        } catch (error) {
          // The batch is one implicit transaction and it rolled back: send it once more,
          // closing and preparing anew every named statement it uses.
          if (!MOVED_STATEMENT_CODES.has(sqlStateOf(error) ?? "")) throw error;
          forgetPreparedStatements(client);
          return (await client.query(batch()).done)[1]?.rows ?? [];
        }
      } finally {
        client.release();
      }
    },
    async ping() {
      await pool.query("select 1");
    },
    close: () => pool.end(),
  };
}
