import { drizzle } from "drizzle-orm/node-postgres";
import type { FastifyBaseLogger } from "fastify";
import pg from "pg";
import { isServiceUnavailable } from "../errors/unavailable.js";
import { observePool } from "../observability/kit-metrics.js";
import { traceStatement } from "../observability/tracing.js";
import { CONNECTION_WAIT_MS, type DatabaseDriver, ENTER_TENANT_SQL } from "./database.js";
import { ReadPipeline } from "./pg-read-pipeline.js";
import {
  type BatchStatement,
  forgetPreparedStatements,
  isMovedStatement,
  StatementBatch,
  statementName,
} from "./pg-statement-batch.js";
import { isDebug, queryLogger } from "./query-logger.js";
import type { Db } from "./transactions.js";

export interface PgDriverOptions {
  url: string;
  poolSize: number;
  /** Named prepared statements; turn off behind PgBouncer older than 1.21 in transaction mode. */
  preparedStatements: boolean;
  /** Connections beside the pool on which tenant reads are pipelined; 0 sends them to the pool. */
  pipelineConnections: number;
  /** How long a pipelined read waits for its answer before its connection is given up. */
  answerWithinMs: number;
  applicationName?: string;
}

const pipelinable = new Map<string, boolean>();

/**
 * Whether a statement may be pipelined (pg-read-pipeline.ts): a plain read, which never waits
 * for a row lock. A write, or a read that locks rows, takes a pooled connection of its own.
 */
export function isPipelinable(text: string): boolean {
  let answer = pipelinable.get(text);
  if (answer === undefined) {
    answer =
      /^\s*select\b/i.test(text) &&
      !/\bfor\s+(update|no\s+key\s+update|share|key\s+share)\b/i.test(text);
    pipelinable.set(text, answer);
  }
  return answer;
}

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
  observePool(pool, options.applicationName ?? "agency-kit");
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
  const statementLogger = queryLogger(logger);
  const db = drizzle({ client: pool, logger: statementLogger });
  /** A Drizzle handle on each pooled connection, for the transactions run on it. */
  const onClient = new WeakMap<pg.PoolClient, Db>();
  const enterName = options.preparedStatements
    ? statementName("enter_tenant", ENTER_TENANT_SQL)
    : "";
  const pipeline =
    options.pipelineConnections > 0
      ? new ReadPipeline(
          {
            url: options.url,
            connections: options.pipelineConnections,
            applicationName: `${options.applicationName ?? "agency-kit"}-reads`,
            waitMs: CONNECTION_WAIT_MS,
            answerWithinMs: options.answerWithinMs,
          },
          logger,
        )
      : undefined;

  /** A tenant batch that may not be pipelined (a write), on a connection of its own. */
  const runOnPooledConnection = async (statements: BatchStatement[]) => {
    const client = await pool.connect();
    try {
      try {
        return (await client.query(new StatementBatch(statements)).done)[1]?.rows ?? [];
      } catch (error) {
        // The batch is one implicit transaction and it rolled back: send it once more,
        // closing and preparing anew every named statement it uses.
        if (!isMovedStatement(error)) throw error;
        forgetPreparedStatements(client);
        return (await client.query(new StatementBatch(statements)).done)[1]?.rows ?? [];
      }
    } finally {
      client.release();
    }
  };

  return {
    kind: "postgres",
    db,
    runInTenant(enter, statement, values) {
      // One span per round trip, named by the statement (tracing.ts; nothing while it is off).
      return traceStatement(statement.name, () => {
        const statements: BatchStatement[] = [
          { name: enterName, text: ENTER_TENANT_SQL, values: enter },
          { name: options.preparedStatements ? statement.name : "", text: statement.text, values },
        ];
        if (isDebug(logger)) logger.debug({ statement: statement.name }, "query");
        // The read path: a `then` instead of an async frame (see ReadPipeline.run).
        if (pipeline && isPipelinable(statement.text)) {
          return pipeline.run(statements).then((results) => results[1]?.rows ?? []);
        }
        return runOnPooledConnection(statements);
      });
    },
    async transaction(fn) {
      // Drizzle's transaction on a pool sends BEGIN before the try whose finally releases the
      // connection, so a BEGIN that fails keeps its connection checked out for good. It fails
      // whenever the server went away while the connection sat idle: behind PgBouncer a
      // PostgreSQL restart answers it with a FATAL error, and a handful of those emptied the pool.
      // The checkout is made here instead, Drizzle runs on that one connection, and every path
      // gives it back.
      const client = await pool.connect();
      let failure: unknown;
      try {
        let handle = onClient.get(client);
        if (!handle) {
          handle = drizzle({ client, logger: statementLogger });
          onClient.set(client, handle);
        }
        return await handle.transaction(fn);
      } catch (error) {
        failure = error;
        throw error;
      } finally {
        // A connection that failed, or whose transaction is still open because its rollback
        // did not get through, is closed rather than handed to the next request.
        const broken = isServiceUnavailable(failure) || client.getTransactionStatus() !== "I";
        client.release(
          broken ? new Error("database connection unusable after a transaction") : undefined,
        );
      }
    },
    async ping() {
      await pool.query("select 1");
    },
    async close() {
      await Promise.all([pool.end(), pipeline?.close()]);
    },
  };
}
