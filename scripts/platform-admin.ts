/**
 * Who administers the platform, from the command line: the supported way to change
 * `users.is_platform_admin` (no route changes it).
 *   npm run platform-admin -- list             every platform admin
 *   npm run platform-admin -- grant <email>    make the user with this email a platform admin
 *   npm run platform-admin -- revoke <email>   unmake them
 * The change commits, then is published on the session revocation channel in Redis, so every
 * API process reads the user's access again on their next request. Exit codes: 0 done, 1 no
 * such user (or the embedded database held by another process), 2 bad usage.
 */
import { loadProcessConfig } from "../src/config.js";
import { publishRevocation, type Revocation } from "../src/core/auth/index.js";
import { AppError } from "../src/core/errors/index.js";
import { createLogger } from "../src/core/logging/index.js";
import { EmbeddedDatabaseInUseError } from "../src/embedded-database.js";
import { createInfrastructure, type Infrastructure } from "../src/infrastructure.js";
import { createPlatformAdmins } from "../src/modules/admin/index.js";

const USAGE = "usage: npm run platform-admin -- list | grant <email> | revoke <email>";

const [command, email, ...rest] = process.argv.slice(2);
const changes = command === "grant" || command === "revoke";
if (!(command === "list" || (changes && email && rest.length === 0))) {
  console.error(USAGE);
  process.exit(2);
}

const config = loadProcessConfig({ LOG_LEVEL: "warn" });
const logger = createLogger(config, undefined, "cli");
let infrastructure: Infrastructure;
try {
  infrastructure = await createInfrastructure(config, { role: "cli", logger });
} catch (error) {
  if (!(error instanceof EmbeddedDatabaseInUseError)) throw error;
  console.error(`npm run platform-admin: nothing was changed. ${error.message}`);
  process.exit(1);
}
const { database, redis } = infrastructure;

/** Tells every API process; a failure is reported, not fatal: the change itself committed. */
async function publish(revocation: Revocation): Promise<void> {
  if (!redis) {
    console.error(
      "REDIS_URL is not set, so no API process was told: each reads the change within a minute (a revocation at once).",
    );
    return;
  }
  try {
    await publishRevocation(redis, config.redisKeyPrefix, revocation);
  } catch (error) {
    console.error(
      `The change is saved, but Redis did not take the announcement (${error instanceof Error ? error.message : String(error)}): API processes read it within a minute (a revocation at once).`,
    );
  }
}

const admins = createPlatformAdmins({ database, revoke: publish });
try {
  if (command === "list") {
    for (const admin of await admins.list())
      console.log(`${admin.email}\t${admin.name}\t${admin.id}`);
  } else if (command === "grant") {
    const user = await admins.grant(email as string);
    console.log(`${user.email} is now a platform admin`);
  } else {
    const user = await admins.revoke(email as string);
    console.log(`${user.email} is no longer a platform admin`);
  }
} catch (error) {
  if (!(error instanceof AppError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
} finally {
  await infrastructure.close();
}
