import { randomBytes, randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { type AppModule, createApp } from "../../src/app.js";
import { type Config, loadConfig } from "../../src/config.js";

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

/**
 * A production configuration (strict checks, no development defaults) on the test Redis, with
 * secrets made now (never literals that could be copied into a deployment) and Redis keys of its
 * own. Production requires both database URLs: pass DATABASE_URL and DATABASE_SYSTEM_URL, and any
 * other variable to change.
 */
export function productionTestConfig(env: Record<string, string | undefined> = {}): Config {
  return loadConfig({
    ENVIRONMENT: "production",
    LOG_LEVEL: "silent",
    SECRET_KEY: randomBytes(36).toString("base64url"),
    METRICS_TOKEN: randomBytes(32).toString("base64url"),
    CORS_ORIGINS: "https://app.example.com",
    PUBLIC_URL: "https://api.example.com",
    FRONTEND_URL: "https://app.example.com",
    SMTP_URL: "smtp://127.0.0.1:1",
    MAIL_FROM: "Kit <no-reply@example.com>",
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: isolatedRedisKeyPrefix(),
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
