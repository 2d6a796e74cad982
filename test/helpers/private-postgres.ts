/**
 * A PostgreSQL cluster of a test's own (scripts/lib/topology/private-postgres.ts, which the
 * topology runs its database with): on 127.0.0.1 and a free port, trusted on the loopback, for a
 * test to stop, restart and kill without disturbing the shared server other test files use.
 */
export {
  type PrivatePostgres,
  startPrivatePostgres,
} from "../../scripts/lib/topology/private-postgres.js";
