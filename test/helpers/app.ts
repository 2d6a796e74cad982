import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { type AppModule, createApp } from "../../src/app.js";
import { type Config, loadConfig } from "../../src/config.js";

import { isolatedRedisKeyPrefix, TEST_REDIS_URL, testConfig } from "./config.js";
import { testModules } from "./test-modules.js";

export {
  isolatedRedisKeyPrefix,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  testConfig,
} from "./config.js";

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

/**
 * Builds an app for a test, with `testModules` (the kit's modules and the notes fixture) unless
 * given `modules` (`defaultModules` for the kit's own app); close it in afterAll/afterEach.
 */
export function buildTestApp(
  env: Record<string, string | undefined> = {},
  modules: readonly AppModule[] = testModules,
): Promise<FastifyInstance> {
  return createApp(testConfig(env), { modules });
}
