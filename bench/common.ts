/**
 * Small helpers the benchmark scripts share: the PostgreSQL server they use, and names.
 */

/** The local PostgreSQL server, as a superuser (the owner of every bench database). */
export const BENCH_SERVER_URL =
  process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/**
 * The logins the kit connects as in the benchmark, as in production: the tenant pool's may
 * assume app_tenant only (granted app_tenant_login), the system pool's app_system (granted
 * app_system_login); neither holds table privileges of its own.
 */
export const BENCH_LOGIN_ROLE = "kit_bench_app";
export const BENCH_SYSTEM_LOGIN_ROLE = "kit_bench_system";

/** The URL of `database` on the bench server, as `user` (default: the server URL's user). */
export function databaseUrl(database: string, user?: string): string {
  const url = new URL(BENCH_SERVER_URL);
  url.pathname = `/${database}`;
  if (user !== undefined) {
    url.username = user;
    url.password = "";
  }
  return url.toString();
}

export const benchDatabaseName = (tenants: number) => `kit_bench_${tenants}`;

/** A positive integer command-line value, or the fallback when absent. */
export function positiveInteger(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) {
    throw new Error(`--${name} must be a positive integer, not "${value}"`);
  }
  return parsed;
}
