/**
 * Every app, worker and server process the suite starts shares one Redis with the others (and
 * with any development server or benchmark on the machine). Under a shared key prefix their
 * per-IP rate-limit counters add up and a test expecting 200 or 503 gets 429 instead, now and then.
 * The helpers give each configuration keys of its own; these checks keep tests on the helpers.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isolatedRedisKeyPrefix, productionTestConfig, testConfig } from "../helpers/app.js";

const testRoot = fileURLToPath(new URL("..", import.meta.url));

/** Every TypeScript file under test/ except the helpers, with its path relative to test/. */
function testFiles(): { path: string; text: string }[] {
  return readdirSync(testRoot, { recursive: true, encoding: "utf8" })
    .filter((path) => path.endsWith(".ts") && !path.startsWith("helpers/"))
    .filter((path) => !path.startsWith("fixtures/layer-violation/"))
    .map((path) => ({ path, text: readFileSync(join(testRoot, path), "utf8") }));
}

describe("Redis keys of the suite", () => {
  it("differ for every configuration the helpers make, and are never the default", () => {
    const prefixes = [
      testConfig().redisKeyPrefix,
      testConfig().redisKeyPrefix,
      productionTestConfig({
        DATABASE_URL: "postgres://tenant@127.0.0.1:1/kit",
        DATABASE_SYSTEM_URL: "postgres://system@127.0.0.1:1/kit",
      }).redisKeyPrefix,
      isolatedRedisKeyPrefix(),
    ];
    for (const prefix of prefixes) expect(prefix).toMatch(/^test:[0-9a-f-]{36}:$/);
    expect(new Set(prefixes).size).toBe(prefixes.length);
  });

  it("keep a prefix a test passes on purpose (two processes sharing keys)", () => {
    const shared = testConfig().redisKeyPrefix;
    expect(testConfig({ REDIS_KEY_PREFIX: shared }).redisKeyPrefix).toBe(shared);
  });

  it("come from the helpers: integration tests build no configuration of their own", () => {
    const own = testFiles()
      .filter(({ path }) => path.startsWith("integration/"))
      .filter(({ text }) => /\bloadConfig\(/.test(text))
      .map(({ path }) => path);
    expect(
      own,
      "build it with testConfig (any ENVIRONMENT), productionTestConfig or setupTenancyTest from test/helpers/",
    ).toEqual([]);
  });

  it("are never written out: no test names a prefix of its own", () => {
    const written = testFiles()
      .filter(({ text }) => /REDIS_KEY_PREFIX:\s*["'`]/.test(text))
      .map(({ path }) => path);
    expect(
      written,
      "use isolatedRedisKeyPrefix(), or the prefix of the configuration whose keys are to be shared",
    ).toEqual([]);
  });
});
