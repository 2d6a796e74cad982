import { fillPlaceholders, getTableColumns, type Placeholder, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import type { PgTable } from "drizzle-orm/pg-core";
import { statementName } from "./pg-statement-batch.js";

/**
 * A query built once, at module load, with Drizzle, and run many times with different values:
 * no SQL building on the hot path, and a named prepared statement on each connection.
 * Values are named placeholders (`sql.placeholder("id")`); `tenantId` is always supplied by
 * the tenant scope, never by the caller.
 */
export interface PreparedStatement<Row> {
  readonly name: string;
  readonly text: string;
  bind(values: Readonly<Record<string, unknown>>): unknown[];
  mapRow(row: Record<string, unknown>): Row;
}

/** A statement as prepared: its label, its SQL and its parameters (values or placeholders). */
export interface PreparedStatementSource {
  readonly label: string;
  readonly text: string;
  readonly params: readonly unknown[];
}

/**
 * Every statement prepared in this process, in load order, so the SQL the repositories produce
 * can be written out and reviewed (scripts/sql-snapshots.ts).
 */
const prepared: PreparedStatementSource[] = [];
export const preparedStatements = (): readonly PreparedStatementSource[] => prepared;

/** Builds SQL without a connection. */
const builder = drizzle.mock();
export type QueryBuilder = typeof builder;

/** A placeholder, named so the statement reads like the query it is. */
export const param = <TName extends string>(name: TName): Placeholder<TName> =>
  sql.placeholder(name);

/**
 * Prepares a statement whose rows are whole rows of `table` (`select()` or `returning()`),
 * mapped from snake_case columns to the table's camelCase keys with each column's decoder.
 */
export function prepareStatement<TTable extends PgTable>(
  label: string,
  table: TTable,
  build: (db: QueryBuilder) => { toSQL(): { sql: string; params: unknown[] } },
): PreparedStatement<TTable["$inferSelect"]> {
  const query = build(builder).toSQL();
  prepared.push({ label, text: query.sql, params: query.params });
  const columns = Object.entries(getTableColumns(table)).map(
    ([key, column]) => [column.name, key, column] as const,
  );
  return {
    name: statementName(label, query.sql),
    text: query.sql,
    bind: (values) => fillPlaceholders(query.params, values as Record<string, unknown>),
    mapRow: (row) => {
      const mapped: Record<string, unknown> = {};
      for (const [name, key, column] of columns) {
        const value = row[name];
        mapped[key] =
          value === null || value === undefined ? null : column.mapFromDriverValue(value);
      }
      return mapped as TTable["$inferSelect"];
    },
  };
}
