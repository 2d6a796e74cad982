import {
  fillPlaceholders,
  getTableColumns,
  getTableName,
  is,
  Param,
  Placeholder,
  sql,
} from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import type { PgTable } from "drizzle-orm/pg-core";
import { statementName } from "./pg-statement-batch.js";
import { tenants } from "./tenants.table.js";
import { users } from "./users.table.js";

/**
 * A query built once, at module load, with Drizzle, and run many times with different values:
 * no SQL building on the hot path, and a named prepared statement on each connection.
 * Values are named placeholders (`sql.placeholder("id")`); `tenantId` is always supplied by
 * the tenant scope, never by the caller, and so is `userId` in a statement on `users`.
 */
export interface PreparedStatement<Row> {
  readonly name: string;
  readonly text: string;
  /** The placeholder the tenant scope fills: what keeps the statement in the scope. */
  readonly scopedBy: ScopePlaceholder;
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
 * can be written out and reviewed (scripts/lib/generated-docs/sql-snapshots.ts).
 */
const prepared: PreparedStatementSource[] = [];
export const preparedStatements = (): readonly PreparedStatementSource[] => prepared;

/** Builds SQL without a connection. */
const builder = drizzle.mock();
export type QueryBuilder = typeof builder;

/**
 * The placeholder that keeps a statement on `table` in the tenant scope, as the predicates of
 * a TenantTx do (transactions.ts): `tenant_id` of a tenant table or `id` of `tenants` equal to
 * `:tenantId`, `id` of `users` equal to `:userId` (the signed-in user's own row).
 */
type ScopePlaceholder = "tenantId" | "userId";

function scopePlaceholderOf(label: string, table: PgTable): ScopePlaceholder {
  if (table === users) return "userId";
  if (table === tenants || getTableColumns(table).tenantId?.name === "tenant_id") return "tenantId";
  throw new Error(
    `statement ${label}: ${getTableName(table)} is not a tenant table; prepared statements run in the tenant scope only`,
  );
}

/** The name of the placeholder a parameter is (an insert wraps it in a Param), if it is one. */
function placeholderName(parameter: unknown): string | undefined {
  if (is(parameter, Placeholder)) return parameter.name;
  if (is(parameter, Param) && is(parameter.value, Placeholder)) return parameter.value.name;
  return undefined;
}

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
  // Refused at load: a statement that never binds its scope would rely on row-level security
  // alone (an insert binds it as the row's tenant_id, which RLS's WITH CHECK checks again).
  const scopedBy = scopePlaceholderOf(label, table);
  if (!query.params.some((value) => placeholderName(value) === scopedBy)) {
    throw new Error(
      `statement ${label} never binds :${scopedBy}: filter ${getTableName(table)} on param("${scopedBy}")`,
    );
  }
  prepared.push({ label, text: query.sql, params: query.params });
  const columns = Object.entries(getTableColumns(table)).map(
    ([key, column]) => [column.name, key, column] as const,
  );
  return {
    name: statementName(label, query.sql),
    text: query.sql,
    scopedBy,
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
