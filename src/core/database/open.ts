import type { FastifyBaseLogger } from "fastify";
import { type Config, ConfigError, isStrictEnvironment } from "../../config.js";
import {
  CONNECTION_WAIT_MS,
  createDatabase,
  type Database,
  type DatabaseDriver,
  type DatabaseLimits,
} from "./database.js";
import { isUnreachable, loginProblems } from "./logins.js";
import { createPgDriver } from "./pg-driver.js";
import { createPgliteDriver } from "./pglite-driver.js";

/**
 * Opens the database the configuration names: PostgreSQL at DATABASE_URL (the tenant pool)
 * and DATABASE_SYSTEM_URL (the system pool), or, in development and test only, the embedded
 * PGlite (stored under PGLITE_DATA_DIR, migrated at start). In production and staging the two
 * logins are checked before any tenant traffic (logins.ts).
 */
export async function openDatabase(config: Config, logger: FastifyBaseLogger): Promise<Database> {
  if (config.databaseUrl) {
    const pool = (
      url: string,
      poolSize: number,
      pipelineConnections: number,
      applicationName: string,
    ) =>
      createPgDriver(
        {
          url,
          poolSize,
          preparedStatements: config.databasePreparedStatements,
          pipelineConnections,
          // PostgreSQL cancels a statement at the timeout; an answer later than this never comes.
          answerWithinMs: config.databaseStatementTimeoutMs + 5_000,
          applicationName,
        },
        logger,
      );
    const tenant = pool(
      config.databaseUrl,
      config.databasePoolSize,
      config.databasePipelineConnections,
      "agency-kit",
    );
    const system =
      config.databaseSystemUrl && config.databaseSystemUrl !== config.databaseUrl
        ? pool(config.databaseSystemUrl, config.databaseSystemPoolSize, 0, "agency-kit-system")
        : tenant;
    const pendingLoginCheck = isStrictEnvironment(config.environment)
      ? await checkLogins(tenant, system, logger)
      : undefined;
    return createDatabase({ tenant, system, pendingLoginCheck }, logger, databaseLimits(config));
  }
  // loadConfig refuses a missing DATABASE_URL in staging and production; this is a second lock.
  if (config.environment !== "development" && config.environment !== "test") {
    throw new Error("The embedded database is for development and test only");
  }
  const dataDir = config.environment === "test" ? "memory://" : config.pgliteDataDir;
  logger.warn(
    { dataDir },
    "DATABASE_URL is not set: using the embedded PGlite database (development only; it runs as a superuser, so nothing in it stands against injected SQL)",
  );
  const driver = await createPgliteDriver(dataDir, logger);
  return createDatabase({ tenant: driver, system: driver }, logger, databaseLimits(config));
}

const databaseLimits = (config: Config): DatabaseLimits => ({
  statementTimeoutMs: config.databaseStatementTimeoutMs,
  connectionsPerTenant: config.databaseTenantConnections,
  // As long as a request may wait for a free connection of the pool itself.
  tenantWaitMs: CONNECTION_WAIT_MS,
});

/**
 * Production's check of the two logins. Refuses to start when they break the rules; when the
 * database cannot be reached yet, returns a gate that tenant traffic awaits until the check has
 * passed (a refusal then fails every tenant statement).
 */
async function checkLogins(
  tenant: DatabaseDriver,
  system: DatabaseDriver,
  logger: FastifyBaseLogger,
): Promise<(() => Promise<void> | undefined) | undefined> {
  const refuse = (problems: string[]) => {
    if (problems.length > 0) throw new ConfigError(problems);
  };
  let problems: string[];
  try {
    problems = await loginProblems(tenant.db, system.db);
  } catch (error) {
    if (!isUnreachable(error)) throw error;
    logger.warn({ err: error }, "database logins not checked at start-up; checked before use");
    return deferredCheck(() => loginProblems(tenant.db, system.db).then(refuse), logger);
  }
  refuse(problems);
  return undefined;
}

/** The check, run before tenant traffic until it has passed once; a refusal is final. */
function deferredCheck(
  check: () => Promise<void>,
  logger: FastifyBaseLogger,
): () => Promise<void> | undefined {
  let passed = false;
  let refusal: unknown;
  let inFlight: Promise<void> | undefined;
  return () => {
    if (passed) return undefined;
    if (refusal) return Promise.reject(refusal);
    inFlight ??= check().then(
      () => {
        passed = true;
        inFlight = undefined;
      },
      (error: unknown) => {
        inFlight = undefined;
        if (error instanceof ConfigError || !isUnreachable(error)) {
          refusal = error;
          logger.fatal({ err: error }, "database logins refused: tenant traffic stopped");
        }
        throw error;
      },
    );
    return inFlight;
  };
}
