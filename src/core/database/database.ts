import { type SQL, sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { FastifyBaseLogger } from "fastify";
import { AppError, unauthorized } from "../errors/index.js";
import { currentContext } from "../logging/index.js";
import { countTenantEntryFailure } from "../observability/kit-metrics.js";
import { sqlStateOf } from "./errors.js";
import type { PreparedStatement } from "./statements.js";
import { TenantBulkhead } from "./tenant-bulkhead.js";
import { type Db, type SystemTx, TenantTx } from "./transactions.js";

export type { Db } from "./transactions.js";

/** How long a request waits for a free database connection before it answers 503. */
export const CONNECTION_WAIT_MS = 5_000;

/** Who a tenant transaction acts for. Only the authenticated request context builds one. */
export interface TenantScope {
  readonly tenantId: string;
  readonly userId?: string | undefined;
  readonly requestId?: string | undefined;
}

/** What a driver must provide; everything tenant-related is built on these. */
export interface DatabaseDriver {
  readonly kind: "postgres" | "pglite";
  readonly db: Db;
  /**
   * Runs, in one round trip and one implicit transaction, ENTER_TENANT_SQL with `enter`, then
   * `statement` with `values`, and returns the statement's raw rows.
   */
  runInTenant(
    enter: readonly unknown[],
    statement: PreparedStatement<unknown>,
    values: unknown[],
  ): Promise<Record<string, unknown>[]>;
  /**
   * `fn` in a transaction on one connection, which goes back to the pool however it ends, and
   * is closed instead when it failed or its transaction could not be ended.
   */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A transaction's time limits, in milliseconds (set in tenant and system transactions alike). */
const timeLimits = (timeoutMs: unknown) =>
  sql`set_config('statement_timeout', ${timeoutMs}::text, true), set_config('idle_in_transaction_session_timeout', ${timeoutMs}::text, true)`;

/**
 * The role switch, the transaction's time limits and the tenant entry; parameters: tenant id,
 * user id, request id, time limit in milliseconds. A missing or suspended tenant raises KT001 or
 * KT002 (see the tenant_isolation migration). The limits are transaction-local like the rest,
 * so they hold behind a transaction pooler too: a statement that runs longer, or a transaction
 * left idle longer, is cancelled and its connection returns to the pool (57014: 503).
 */
const enterTenant = (tenantId: unknown, userId: unknown, requestId: unknown, timeoutMs: unknown) =>
  sql`select set_config('role', 'app_tenant', true), app.enter_tenant(${tenantId}::uuid, ${userId}::uuid, ${requestId}::text), ${timeLimits(timeoutMs)}`;
export const ENTER_TENANT_SQL = new PgDialect().sqlToQuery(
  enterTenant(
    sql.placeholder("tenantId"),
    sql.placeholder("userId"),
    sql.placeholder("requestId"),
    sql.placeholder("timeoutMs"),
  ),
).sql;

/** A database handle bound to one tenant. Repositories of tenant tables take one of these. */
export interface TenantDatabase {
  readonly scope: TenantScope;
  /**
   * One prepared statement in one round trip; `tenantId` (and `userId` in a statement on
   * `users`) is filled in from the scope.
   */
  rows<Row>(
    statement: PreparedStatement<Row>,
    values?: Readonly<Record<string, unknown>>,
  ): Promise<Row[]>;
  /**
   * Several statements in one transaction, as the tenant role with the tenant set. `fn` gets a
   * TenantTx: its queries filter on the tenant themselves, and row-level security does again.
   */
  transaction<T>(fn: (tx: TenantTx) => Promise<T>): Promise<T>;
}

export interface Database {
  readonly kind: "postgres" | "pglite";
  forTenant(scope: TenantScope): TenantDatabase;
  /**
   * The one way around tenant isolation: runs `fn` in a transaction as `app_system`, which
   * bypasses row-level security, on the system pool (whose login may assume app_system; the
   * tenant pool's may not). For the few paths that have no tenant yet or span tenants
   * (login, tenant creation, platform administration). Every use is logged with its reason.
   * `fn` gets a SystemTx, which no tenant repository accepts. Only the files listed in
   * test/unit/system-access.test.ts may call it.
   */
  bypassTenantIsolation<T>(
    reason: string,
    fn: (tx: SystemTx) => Promise<T>,
    options?: { logLevel?: "info" | "debug" },
  ): Promise<T>;
  /**
   * Runs one statement as the tenant pool's login role, outside any transaction, in one round
   * trip. That login holds no table privileges, so this reaches only SECURITY DEFINER
   * functions granted to it, such as `app.session_access` (the authentication check, on every
   * request: it stays on the tenant pool, so the read path never waits for the system pool).
   */
  run<Row extends Record<string, unknown>>(query: SQL): Promise<Row[]>;
  /** Both pools answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The two pools. `tenant` connects as a login that can assume app_tenant only; `system` as one
 * that can assume app_system. They are the same driver where one login serves both
 * (development and test with a single URL, and the embedded PGlite).
 */
export interface DatabaseDrivers {
  readonly tenant: DatabaseDriver;
  readonly system: DatabaseDriver;
  /**
   * Awaited before tenant traffic while the production check of the logins has not passed yet
   * (it could not reach the database at start-up); undefined once it has, or where none runs.
   */
  readonly pendingLoginCheck?: () => Promise<void> | undefined;
}

/** Turns the tenant-entry failures into the answers a client should get. */
function tenantEntryError(error: unknown): unknown {
  countTenantEntryFailure(error);
  const code = sqlStateOf(error);
  if (code === "KT001") return unauthorized("The tenant of this token no longer exists.");
  if (code === "KT002") return new AppError("forbidden", "This tenant is suspended.");
  return error;
}

export interface DatabaseLimits {
  /** statement_timeout and idle_in_transaction_session_timeout of every transaction. */
  readonly statementTimeoutMs: number;
  /** Tenant-pool connections one tenant may hold at once (TenantBulkhead). */
  readonly connectionsPerTenant: number;
  /** How long a tenant's request over that cap waits for its turn before answering 503. */
  readonly tenantWaitMs: number;
}

export function createDatabase(
  drivers: DatabaseDrivers,
  logger: FastifyBaseLogger,
  limits: DatabaseLimits,
): Database {
  const { tenant: driver, system } = drivers;
  const timeout = String(limits.statementTimeoutMs);
  const bulkhead = new TenantBulkhead(limits.connectionsPerTenant, limits.tenantWaitMs);
  // In the order of ENTER_TENANT_SQL's parameters; the time limit appears twice.
  const enterValues = (
    scope: TenantScope,
  ): [string, string | null, string | null, string, string] => [
    scope.tenantId,
    scope.userId ?? null,
    scope.requestId ?? null,
    timeout,
    timeout,
  ];

  const forTenant = (scope: TenantScope): TenantDatabase => ({
    scope,
    // Every tenant read passes here: `then` rather than an async frame, whose promises (and,
    // while AsyncLocalStorage is on, their hook calls) would add to every request.
    rows(statement, values = {}) {
      let bound: unknown[];
      try {
        // The scope's tenant (and, on users, its user) wins over anything a caller passes.
        bound = statement.bind(
          statement.scopedBy === "userId"
            ? { ...values, tenantId: scope.tenantId, userId: scope.userId ?? null }
            : { ...values, tenantId: scope.tenantId },
        );
      } catch (error) {
        return Promise.reject(error);
      }
      const read = () =>
        bulkhead
          .run(scope.tenantId, () =>
            driver.runInTenant(enterValues(scope), statement as PreparedStatement<unknown>, bound),
          )
          .then(
            (rows) => rows.map((row) => statement.mapRow(row)),
            (error: unknown) => {
              throw tenantEntryError(error);
            },
          );
      const pendingCheck = drivers.pendingLoginCheck?.();
      return pendingCheck ? pendingCheck.then(read) : read();
    },
    async transaction(fn) {
      const pendingCheck = drivers.pendingLoginCheck?.();
      if (pendingCheck) await pendingCheck;
      try {
        return await bulkhead.run(scope.tenantId, () =>
          driver.transaction(async (tx) => {
            await tx.execute(
              enterTenant(scope.tenantId, scope.userId ?? null, scope.requestId ?? null, timeout),
            );
            return fn(new TenantTx(tx, scope));
          }),
        );
      } catch (error) {
        throw tenantEntryError(error);
      }
    },
  });

  return {
    kind: driver.kind,
    forTenant,
    bypassTenantIsolation(reason, fn, options = {}) {
      // Background loops (the outbox relay) log at debug, not on every poll.
      logger[options.logLevel ?? "info"]({ reason }, "bypassing tenant isolation");
      // The request's user and id reach the audit trigger, as in tenant transactions.
      const context = currentContext();
      return system.transaction(async (tx) => {
        await tx.execute(
          sql`select set_config('role', 'app_system', true), ${timeLimits(timeout)}, set_config('app.user_id', ${context?.userId ?? ""}, true), set_config('app.request_id', ${context?.requestId ?? ""}, true)`,
        );
        return fn(tx as unknown as SystemTx);
      });
    },
    async run<Row extends Record<string, unknown>>(query: SQL) {
      const pendingCheck = drivers.pendingLoginCheck?.();
      if (pendingCheck) await pendingCheck;
      const result = (await driver.db.execute(query)) as unknown as { rows: Row[] };
      return result.rows;
    },
    async ping() {
      await Promise.all(system === driver ? [driver.ping()] : [driver.ping(), system.ping()]);
    },
    async close() {
      await Promise.all(system === driver ? [driver.close()] : [driver.close(), system.close()]);
    },
  };
}
