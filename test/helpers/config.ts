import { randomUUID } from "node:crypto";
import { type Config, loadConfig } from "../../src/config.js";

/*
 * The test configuration, apart from the app: a test that must set something up before the
 * app's modules load (the tracing tests instrument node:http, pg and ioredis first) imports it
 * from here; everyone else gets it from app.ts too.
 */

/** The services every machine running the suite provides (docs/configuration.md, "Tests only"). */
export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/**
 * Redis keys of their own (`test:<uuid>:`) for an app, worker or server process a test starts:
 * its rate-limit counters, cache entries, queues and one-time values never meet another test's,
 * nor those of a development server or benchmark on the same Redis under the default `kit:`
 * (shared per-IP counters answered 429 where a test expected 200 or 503).
 */
export const isolatedRedisKeyPrefix = (): string => `test:${randomUUID()}:`;

/**
 * A test configuration; pass environment variables to change any part of it. The database is
 * the server's maintenance database unless a test passes its own (see test-database.ts), or
 * DATABASE_URL: "" for the embedded in-memory PGlite.
 */
export function testConfig(env: Record<string, string | undefined> = {}): Config {
  return loadConfig({
    ENVIRONMENT: "test",
    LOG_LEVEL: "silent",
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_KEY_PREFIX: isolatedRedisKeyPrefix(),
    ...env,
  });
}
