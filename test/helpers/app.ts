import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { type AppModule, createApp } from "../../src/app.js";
import { type Config, loadConfig } from "../../src/config.js";

/** The services every machine running the suite provides (see README, "Tests"). */
export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

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
    // Tests sharing the real Redis never see each other's keys (rate-limit counters, cache).
    REDIS_KEY_PREFIX: `test:${randomUUID()}:`,
    ...env,
  });
}

/** Builds an app for a test; close it in afterAll/afterEach. */
export function buildTestApp(
  env: Record<string, string | undefined> = {},
  modules?: readonly AppModule[],
): Promise<FastifyInstance> {
  return createApp(testConfig(env), modules ? { modules } : {});
}
