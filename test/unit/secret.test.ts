import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { productionTestConfig } from "../helpers/app.js";

/**
 * `npm run secret` prints what production's configuration check accepts: its lines, pasted
 * into a production environment, pass loadConfig.
 */

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

async function secrets(): Promise<Record<string, string>> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", "scripts/secret.ts"], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "" },
  });
  const lines = stdout.trim().split("\n");
  expect(lines.map((line) => line.split("=")[0])).toEqual(["SECRET_KEY", "METRICS_TOKEN"]);
  return Object.fromEntries(lines.map((line) => line.split("=", 2) as [string, string]));
}

/** The rest of a production configuration; only the two secrets vary. */
const production = (env: Record<string, string>) =>
  productionTestConfig({
    DATABASE_URL: "postgres://kit_tenant@db.internal:5432/kit",
    DATABASE_SYSTEM_URL: "postgres://kit_system@db.internal:5432/kit",
    ...env,
  });

describe("npm run secret", () => {
  it("prints a SECRET_KEY and a METRICS_TOKEN that production's configuration accepts", async () => {
    const printed = await secrets();
    const config = production(printed);
    expect(config.secretKey).toBe(printed.SECRET_KEY);
    expect(config.metricsToken).toBe(printed.METRICS_TOKEN);
    // Env-file lines that need no quoting: base64url only.
    expect(printed.SECRET_KEY).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(printed.METRICS_TOKEN).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("prints new ones on every run", async () => {
    const [first, second] = await Promise.all([secrets(), secrets()]);
    expect(second.SECRET_KEY).not.toBe(first.SECRET_KEY);
    expect(second.METRICS_TOKEN).not.toBe(first.METRICS_TOKEN);
  });

  it("is held to a check that refuses weak values in the same configuration", async () => {
    const printed = await secrets();
    expect(() => production({ ...printed, SECRET_KEY: "a".repeat(64) })).toThrow(
      "SECRET_KEY is guessable",
    );
    expect(() => production({ ...printed, METRICS_TOKEN: "too short" })).toThrow(
      "METRICS_TOKEN must be at least 32 characters",
    );
  });
});
