import type { Logger } from "drizzle-orm";
import type { FastifyBaseLogger } from "fastify";

export const isDebug = (logger: FastifyBaseLogger): boolean =>
  logger.level === "debug" || logger.level === "trace";

/** Drizzle's query log, at debug level. Parameters are left out: they can hold secrets. */
export function queryLogger(logger: FastifyBaseLogger): Logger {
  return {
    logQuery(query: string) {
      if (isDebug(logger)) logger.debug({ query }, "query");
    },
  };
}
