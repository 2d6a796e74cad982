import { and, eq, is, type SQL } from "drizzle-orm";
import {
  type AnyPgColumn,
  PgColumn,
  type PgDatabase,
  type PgInsertValue,
  type PgQueryResultHKT,
  type PgSelectBuilder,
  type PgTable,
  type PgUpdateSetSource,
  type SelectedFields,
} from "drizzle-orm/pg-core";
import { tenants } from "./tenants.table.js";
import { users } from "./users.table.js";

/**
 * The two kinds of transaction the kit hands out, as two types, so that the compiler keeps
 * them apart: a `TenantTx` (from `forTenant(scope).transaction`) can only query the tenant it
 * was opened for, and a `SystemTx` (from `bypassTenantIsolation`) is the full query builder
 * as `app_system`. A repository of tenant tables takes a `TenantTx`; one that needs another
 * tenant or none takes a `SystemTx` and says so in its name (`...SystemRepository`).
 */

/** A Drizzle handle inside a transaction (node-postgres or PGlite). */
// biome-ignore lint/suspicious/noExplicitAny: the schema type parameter differs per driver.
export type Db = PgDatabase<PgQueryResultHKT, any>;

declare const systemTx: unique symbol;
/**
 * A transaction as `app_system`, which bypasses row-level security: only
 * `database.bypassTenantIsolation` makes one. It is a plain Drizzle handle (code that runs in
 * it names every tenant itself), branded so that it cannot be mistaken for a tenant
 * transaction, nor a raw connection for it.
 */
export type SystemTx = Db & { readonly [systemTx]: true };

/** A table of tenant data: it has the `tenant_id` column of `tenantId()` (tenant-column.ts). */
type TenantTable = PgTable & { readonly tenantId: AnyPgColumn };

/**
 * What a tenant transaction may name in `from`, `update` and `delete`, and the predicate each
 * gets: a tenant table (`tenant_id` = the transaction's tenant), the tenant's own row of
 * `tenants` (`id` = the tenant) and the signed-in user's own row of `users` (`id` = the user).
 * Other users' rows are reached by joining them from `memberships`.
 */
type ScopedTable = TenantTable | typeof tenants | typeof users;

/** Extra conditions of a scoped query; `undefined` ones are left out, as in `and()`. */
export type Condition = SQL | undefined;

/** A row to insert into a tenant table: everything but `tenantId`, which the transaction sets. */
type TenantInsert<TTable extends TenantTable> = Omit<TTable["$inferInsert"], "tenantId">;

/** The changes of a scoped update; a row never moves to another tenant. */
type ScopedSet<TTable extends ScopedTable> = Omit<PgUpdateSetSource<TTable>, "tenantId">;

interface TxScope {
  readonly tenantId: string;
  readonly userId?: string | undefined;
}

/** The predicate that keeps a query on `table` inside `scope` (see ScopedTable). */
function scopePredicate(table: ScopedTable, scope: TxScope): SQL {
  if (table === tenants) return eq(tenants.id, scope.tenantId);
  if (table === users) {
    if (!scope.userId) {
      throw new Error("this tenant transaction acts for no user: it has no user row to read");
    }
    return eq(users.id, scope.userId);
  }
  return eq(tenantColumnOf(table), scope.tenantId);
}

/** The `tenant_id` column of a tenant table. The types allow no other; this catches a cast. */
function tenantColumnOf(table: PgTable): PgColumn {
  const column: unknown = (table as TenantTable).tenantId;
  if (!is(column, PgColumn) || column.name !== "tenant_id") {
    throw new Error("a tenant transaction queries tenant tables only");
  }
  return column;
}

/** `select(...).from(table, ...conditions)`: the tenant predicate is part of `from`. */
class ScopedSelect<TSelection extends SelectedFields | undefined> {
  readonly #builder: PgSelectBuilder<TSelection>;
  readonly #scope: TxScope;

  constructor(builder: PgSelectBuilder<TSelection>, scope: TxScope) {
    this.#builder = builder;
    this.#scope = scope;
  }

  /**
   * The rows of `table` in this tenant that meet every condition. The result is Drizzle's
   * select builder with its `where` already set (so it has no `where` to replace it): joins,
   * `orderBy`, `limit` and `for` follow as usual.
   */
  from<TTable extends ScopedTable>(table: TTable, ...conditions: Condition[]) {
    // Drizzle's check against data-modifying subqueries cannot see through the type parameter;
    // a table is never one.
    return this.#builder
      .from<TTable>(table as never)
      .where(and(scopePredicate(table, this.#scope), ...conditions));
  }
}

/**
 * A transaction as `app_tenant` with one tenant entered: only `forTenant(scope).transaction`
 * makes one. It has no unscoped query builder. Every `select ... from`, `update` and `delete`
 * it builds filters on the tenant (or on the tenant's or user's own row, see ScopedTable), and
 * every `insert` sets `tenant_id`, so each statement is kept in the tenant twice: by this
 * predicate and by row-level security.
 */
export class TenantTx {
  readonly #db: Db;
  readonly #scope: TxScope;

  constructor(db: Db, scope: TxScope) {
    this.#db = db;
    this.#scope = { tenantId: scope.tenantId, userId: scope.userId };
  }

  get tenantId(): string {
    return this.#scope.tenantId;
  }

  /** The signed-in user the transaction acts for, when there is one. */
  get userId(): string | undefined {
    return this.#scope.userId;
  }

  select(): ScopedSelect<undefined>;
  select<TSelection extends SelectedFields>(fields: TSelection): ScopedSelect<TSelection>;
  select(fields?: SelectedFields): ScopedSelect<SelectedFields | undefined> {
    return new ScopedSelect(fields ? this.#db.select(fields) : this.#db.select(), this.#scope);
  }

  /** `insert(table).values(rows)`, with each row's `tenant_id` set to the transaction's tenant. */
  insert<TTable extends TenantTable>(table: TTable) {
    tenantColumnOf(table);
    const { tenantId } = this.#scope;
    const db = this.#db;
    return {
      values(rows: TenantInsert<TTable> | readonly TenantInsert<TTable>[]) {
        const list = (Array.isArray(rows) ? rows : [rows]) as readonly TenantInsert<TTable>[];
        return db
          .insert(table)
          .values(list.map((row) => ({ ...row, tenantId }) as unknown as PgInsertValue<TTable>));
      },
    };
  }

  /** `update(table).set(changes).where(...conditions)`, on this tenant's rows only. */
  update<TTable extends ScopedTable>(table: TTable) {
    const scope = this.#scope;
    const db = this.#db;
    return {
      set(changes: ScopedSet<TTable>) {
        return {
          where: (...conditions: Condition[]) =>
            db
              .update(table)
              .set(changes as PgUpdateSetSource<TTable>)
              .where(and(scopePredicate(table, scope), ...conditions)),
        };
      },
    };
  }

  /** `delete(table).where(...conditions)`, on this tenant's rows only. */
  delete<TTable extends ScopedTable>(table: TTable) {
    const scope = this.#scope;
    const db = this.#db;
    return {
      where: (...conditions: Condition[]) =>
        db.delete(table).where(and(scopePredicate(table, scope), ...conditions)),
    };
  }

  /**
   * Raw SQL in the transaction, for what is not a query of a table: function calls such as
   * advisory locks, and the job outbox insert (`jobs.enqueue`). It carries no tenant
   * predicate, so row-level security alone keeps it in the tenant: repositories read and
   * write tenant tables through the scoped builders above instead.
   */
  execute(query: SQL) {
    return this.#db.execute(query);
  }
}
