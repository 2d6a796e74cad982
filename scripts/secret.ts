/**
 * Prints a fresh SECRET_KEY and METRICS_TOKEN as lines of an env file, for production and
 * staging: `npm run -s secret >> .env.production` (-s keeps npm's own lines out).
 *
 * Each is random bytes from the operating system's generator (48 for SECRET_KEY, 32 for
 * METRICS_TOKEN) in base64url, which needs no quoting in an env file, a shell or a URL: 64 and
 * 43 characters, far above the 32 characters and the estimated 128 bits production's
 * configuration check demands (docs/configuration.md#secrets). Each is put to that check,
 * loadConfig's own, before it is printed, and drawn again in the unlikely case it is refused
 * (a placeholder word such as "secret" in the random characters).
 */
import { randomBytes } from "node:crypto";
import { ConfigError, loadConfig } from "../src/config.js";

const SECRETS = [
  { variable: "SECRET_KEY", bytes: 48 },
  { variable: "METRICS_TOKEN", bytes: 32 },
] as const;

/** What production's configuration check says of `value` as `variable`: nothing when it passes. */
function refusals(variable: string, value: string): string[] {
  try {
    loadConfig({ ENVIRONMENT: "production", [variable]: value });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.filter((problem) => problem.startsWith(`${variable} `));
  }
  return [];
}

for (const { variable, bytes } of SECRETS) {
  let value = randomBytes(bytes).toString("base64url");
  for (let draw = 1; refusals(variable, value).length > 0; draw++) {
    if (draw >= 10) {
      throw new Error(
        `${variable}: ten draws were refused: ${refusals(variable, value).join("; ")}`,
      );
    }
    value = randomBytes(bytes).toString("base64url");
  }
  console.log(`${variable}=${value}`);
}
