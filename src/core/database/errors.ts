/**
 * The PostgreSQL SQLSTATE of an error from either driver, looking through Drizzle's
 * DrizzleQueryError wrapper (whose message holds the SQL and parameters: never show it).
 */
export function sqlStateOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Whether the error is a unique-constraint violation (SQLSTATE 23505). */
export const isUniqueViolation = (error: unknown): boolean => sqlStateOf(error) === "23505";
