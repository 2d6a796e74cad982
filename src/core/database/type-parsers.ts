import pg from "pg";

/**
 * Date and time values stay strings from the driver and are converted by each Drizzle column
 * (as Drizzle's own node-postgres driver does), so statements run outside Drizzle map rows
 * exactly like Drizzle queries.
 */
const raw = (value: string) => value;
const RAW_TYPES = new Set<number>([
  pg.types.builtins.TIMESTAMPTZ,
  pg.types.builtins.TIMESTAMP,
  pg.types.builtins.DATE,
  pg.types.builtins.INTERVAL,
]);

export const driverTypeParsers = {
  getTypeParser(oid: number, format?: string) {
    if (RAW_TYPES.has(oid)) return raw;
    return pg.types.getTypeParser(oid, (format ?? "text") as "text");
  },
};
