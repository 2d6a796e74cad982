/**
 * Whether an error means a backing service could not be reached or dropped the connection (a
 * restart, a failover, a network cut): the request may succeed if retried in a moment, so the
 * client gets 503 with Retry-After, not a 500. Looks through wrappers such as Drizzle's
 * DrizzleQueryError (`cause`).
 */
export function isServiceUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === "object"; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === "string") {
      if (UNAVAILABLE_SQLSTATES.has(code) || code.startsWith("08")) return true;
      if (UNREACHABLE_SOCKET_CODES.has(code)) return true;
    }
    if (
      typeof message === "string" &&
      DROPPED_CONNECTION_MESSAGES.some((m) => message.includes(m))
    ) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting up or shutting
 * down), 53300 too many connections; class 08 (connection exceptions) is matched by prefix.
 */
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300"]);

const UNREACHABLE_SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/**
 * node-postgres reports a lost or refused connection with these messages and no code, and so
 * does ioredis, which fails commands at once while Redis is unreachable (no offline queue) or
 * after its command timeout.
 */
const DROPPED_CONNECTION_MESSAGES = [
  "Connection terminated",
  "timeout exceeded when trying to connect",
  "is not queryable",
  "Stream isn't writeable",
  "Connection is closed",
  "Command timed out",
  // A pipelined read whose answer did not come in time (pg-read-pipeline.ts).
  "Query read timeout",
];
