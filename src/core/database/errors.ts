/** What a failed statement's PostgreSQL error says about itself, without its values. */
export interface DatabaseFailure {
  readonly sqlState: string;
  readonly constraint?: string;
  readonly table?: string;
  readonly column?: string;
}

/**
 * The PostgreSQL error of a failure from either driver, looking through Drizzle's
 * DrizzleQueryError wrapper (whose message holds the SQL and parameters: never show it). Only
 * the SQLSTATE and the names of the constraint, table and column are kept; the error's message
 * and detail quote the values and are left out.
 */
export function databaseFailureOf(error: unknown): DatabaseFailure | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current; depth++) {
    const { code, constraint, table, column } = current as Record<string, unknown>;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
      return {
        sqlState: code,
        ...(typeof constraint === "string" ? { constraint } : {}),
        ...(typeof table === "string" ? { table } : {}),
        ...(typeof column === "string" ? { column } : {}),
      };
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The PostgreSQL SQLSTATE of an error from either driver (see databaseFailureOf). */
export const sqlStateOf = (error: unknown): string | undefined =>
  databaseFailureOf(error)?.sqlState;

/**
 * Whether the error is a unique-constraint violation (SQLSTATE 23505), of the named constraint
 * or index when one is given.
 */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const failure = databaseFailureOf(error);
  if (failure?.sqlState !== "23505") return false;
  return constraint === undefined || failure.constraint === constraint;
}
