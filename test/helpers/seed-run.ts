import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { createApp } from "../../src/app.js";
import { testConfig } from "./app.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

export interface SeedTest {
  /** The fresh database the seed writes to (cloned from the migrated template). */
  readonly database: TestDatabase;
  /** A connection as the database's owner, to read what the seed made. */
  readonly owner: pg.Client;
  /** The kit's app on the same database and signing key, to use what the seed printed. */
  readonly app: FastifyInstance;
  /** `npm run seed` with these arguments, through the kit's two logins as production connects. */
  seed(...args: string[]): Promise<{ stdout: string; stderr: string }>;
}

/**
 * A fresh database, the kit's app on it and `npm run seed` against it, made in beforeAll and
 * dropped in afterAll of the calling file. The seed and the app share one signing key: the
 * seed loads a local .env, which `npm run init` writes with a key of its own, and its printed
 * tokens must work as they are.
 */
export function setupSeedTest(): SeedTest {
  const secretKey = randomBytes(36).toString("base64url");
  let database: TestDatabase | undefined;
  let owner: pg.Client | undefined;
  let app: FastifyInstance | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
    owner = new pg.Client({ connectionString: database.url });
    await owner.connect();
    app = await createApp(
      testConfig({
        DATABASE_URL: database.tenantUrl,
        DATABASE_SYSTEM_URL: database.systemUrl,
        REDIS_URL: "",
        SECRET_KEY: secretKey,
      }),
    );
  });
  afterAll(async () => {
    await app?.close();
    await owner?.end();
    await database?.drop();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("setupSeedTest: used before its beforeAll ran");
    return value;
  };
  return {
    get database() {
      return ready(database);
    },
    get owner() {
      return ready(owner);
    },
    get app() {
      return ready(app);
    },
    seed: (...args) =>
      run(process.execPath, ["--import", "tsx", "scripts/seed.ts", ...args], {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH ?? "",
          ENVIRONMENT: "test",
          DATABASE_URL: ready(database).tenantUrl,
          DATABASE_SYSTEM_URL: ready(database).systemUrl,
          REDIS_URL: "",
          SECRET_KEY: secretKey,
        },
      }),
  };
}
