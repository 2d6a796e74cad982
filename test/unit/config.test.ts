import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

const STRONG_SECRET = "k7F9x2Qm4Lp8Zr1Vt6Yw3Nb5Hc0Jd7Sg2Ae9Uo4Ri8Xe";
const METRICS_TOKEN = "Vb3Rk9Tq2Xw7Lm5Zp8Hc4Nf6Jd1Sg0Ye3Ua9Oi";

const production = (overrides: Record<string, string | undefined> = {}) => ({
  ENVIRONMENT: "production",
  SECRET_KEY: STRONG_SECRET,
  DATABASE_URL: "postgres://app@db:5432/app",
  DATABASE_SYSTEM_URL: "postgres://system@db:5432/app",
  REDIS_URL: "redis://cache:6379",
  CORS_ORIGINS: "https://app.example.com",
  PUBLIC_URL: "https://api.example.com",
  FRONTEND_URL: "https://app.example.com",
  SMTP_URL: "smtps://mailer:secret@smtp.example.com:465",
  MAIL_FROM: "Example <no-reply@example.com>",
  METRICS_TOKEN,
  ...overrides,
});

function problemsOf(env: Record<string, string | undefined>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("loadConfig", () => {
  it("accepts a complete production configuration and freezes it", () => {
    const config = loadConfig(production());
    expect(config.environment).toBe("production");
    expect(config.secretKey).toBe(STRONG_SECRET);
    expect(config.corsOrigins).toEqual(["https://app.example.com"]);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("refuses production without SECRET_KEY", () => {
    expect(problemsOf(production({ SECRET_KEY: undefined }))).toEqual(["SECRET_KEY is required"]);
  });

  it("refuses a production SECRET_KEY shorter than 32 characters", () => {
    expect(problemsOf(production({ SECRET_KEY: "Xq81vLm2Rt7Wn4Kp9Zs" }))).toEqual([
      "SECRET_KEY must be at least 32 characters",
    ]);
  });

  it("refuses a known placeholder SECRET_KEY even when it is long", () => {
    const problems = problemsOf(
      production({ SECRET_KEY: "replace-me-with-a-long-random-string-of-64-characters" }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/placeholder/);
  });

  it("refuses a long but guessable SECRET_KEY: repeats, sequences, few distinct characters", () => {
    for (const guessable of [
      "ab".repeat(30),
      "0123456789012345678901234567890123",
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
      "Xq81vLm2Rt7Wn4Kp9Zs".repeat(2),
      "2468101214161820222426283032343638",
      "zyxwvutsrqponmlkjihgfedcba9876543210",
    ]) {
      const problems = problemsOf(production({ SECRET_KEY: guessable }));
      expect(problems, guessable).toHaveLength(1);
      expect(problems[0]).toMatch(
        /^SECRET_KEY is guessable: about \d+ bits of entropy, at least 128 needed/,
      );
    }
  });

  it("accepts the keys the documented generators make", () => {
    for (let round = 0; round < 200; round += 1) {
      for (const key of [
        randomBytes(48).toString("base64"),
        randomBytes(32).toString("base64"),
        randomBytes(32).toString("base64url"),
        randomBytes(32).toString("hex"),
      ]) {
        expect(problemsOf(production({ SECRET_KEY: key })), key).toEqual([]);
      }
    }
  });

  it("refuses PUBLIC_URL and FRONTEND_URL without TLS in production and staging", () => {
    expect(
      problemsOf(
        production({ PUBLIC_URL: "http://api.example.com", FRONTEND_URL: "http://localhost:3000" }),
      ),
    ).toEqual([
      "PUBLIC_URL must be an https URL in production",
      "FRONTEND_URL must be an https URL in production",
    ]);
    expect(
      problemsOf(production({ ENVIRONMENT: "staging", PUBLIC_URL: "http://api.example.com" })),
    ).toEqual(["PUBLIC_URL must be an https URL in staging"]);
    // Plain HTTP stays allowed where nothing is strict.
    expect(loadConfig({ PUBLIC_URL: "http://localhost:8000" }).publicUrl).toBe(
      "http://localhost:8000",
    );
  });

  it("refuses production without a strong METRICS_TOKEN, which would leave /metrics open", () => {
    expect(problemsOf(production({ METRICS_TOKEN: undefined }))).toEqual([
      "METRICS_TOKEN is required in production: without it /metrics is open to anyone who reaches the API",
    ]);
    expect(problemsOf(production({ ENVIRONMENT: "staging", METRICS_TOKEN: "" }))).toEqual([
      "METRICS_TOKEN is required in staging: without it /metrics is open to anyone who reaches the API",
    ]);
    expect(problemsOf(production({ METRICS_TOKEN: "metrics" }))).toEqual([
      "METRICS_TOKEN must be at least 32 characters",
    ]);
    expect(problemsOf(production({ METRICS_TOKEN: "1".repeat(40) }))[0]).toMatch(
      /^METRICS_TOKEN is guessable/,
    );
    expect(loadConfig(production()).metricsToken).toBe(METRICS_TOKEN);
    // Elsewhere it stays optional.
    expect(loadConfig({ ENVIRONMENT: "development" }).metricsToken).toBeUndefined();
  });

  it("refuses production without DATABASE_URL", () => {
    expect(problemsOf(production({ DATABASE_URL: undefined }))).toEqual([
      "DATABASE_URL is required in production",
    ]);
  });

  it("refuses production without REDIS_URL", () => {
    expect(problemsOf(production({ REDIS_URL: "" }))).toEqual([
      "REDIS_URL is required in production",
    ]);
  });

  it('refuses CORS_ORIGINS "*" in production', () => {
    expect(problemsOf(production({ CORS_ORIGINS: "*" }))).toEqual([
      'CORS_ORIGINS must list origins, not "*", in production',
    ]);
  });

  it("names every problem at once", () => {
    const problems = problemsOf({ ENVIRONMENT: "production" });
    expect(problems).toEqual(
      expect.arrayContaining([
        "SECRET_KEY is required",
        "DATABASE_URL is required in production",
        "REDIS_URL is required in production",
      ]),
    );
    expect(() => loadConfig({ ENVIRONMENT: "production" })).toThrow(/SECRET_KEY is required/);
  });

  it("applies the same refusals to staging", () => {
    expect(
      problemsOf(production({ ENVIRONMENT: "staging", SECRET_KEY: "Xq81vLm2Rt7Wn4Kp9Zs" })),
    ).toEqual(["SECRET_KEY must be at least 32 characters"]);
  });

  it("derives a development secret and says so", () => {
    const first = loadConfig({ ENVIRONMENT: "development" });
    const second = loadConfig({ ENVIRONMENT: "development" });
    expect(first.secretKey.length).toBeGreaterThanOrEqual(32);
    expect(first.secretKey).toBe(second.secretKey);
    expect(first.notices.join("\n")).toMatch(/SECRET_KEY is not set/);
  });

  it("uses an explicit development secret without a notice", () => {
    const config = loadConfig({ ENVIRONMENT: "development", SECRET_KEY: "dev" });
    expect(config.secretKey).toBe("dev");
    expect(config.notices).toEqual([]);
  });

  it("rejects malformed values with the variable named", () => {
    expect(() => loadConfig({ PORT: "eighty" })).toThrow(/PORT/);
    expect(() => loadConfig({ ENVIRONMENT: "prod" })).toThrow(/ENVIRONMENT/);
    expect(() => loadConfig({ DATABASE_URL: "not a url" })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ MEMORY_RETURN_WHEN_QUIET: "sometimes" })).toThrow(
      /MEMORY_RETURN_WHEN_QUIET/,
    );
    expect(() => loadConfig({ CORS_ORIGINS: "https://a.example.com/path" })).toThrow(
      /CORS_ORIGINS entry/,
    );
  });

  it("refuses a headers timeout longer than the request timeout", () => {
    expect(() => loadConfig({ REQUEST_TIMEOUT_MS: "1000", HEADERS_TIMEOUT_MS: "2000" })).toThrow(
      /HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS/,
    );
  });

  it("gives one tenant half the tenant pool by default, and never more than the pool", () => {
    expect(loadConfig({ DATABASE_POOL_SIZE: "10" }).databaseTenantConnections).toBe(5);
    expect(loadConfig({ DATABASE_POOL_SIZE: "1" }).databaseTenantConnections).toBe(1);
    expect(loadConfig({}).databaseStatementTimeoutMs).toBe(10_000);
    expect(() => loadConfig({ DATABASE_POOL_SIZE: "4", DATABASE_TENANT_CONNECTIONS: "5" })).toThrow(
      /DATABASE_TENANT_CONNECTIONS must not exceed DATABASE_POOL_SIZE/,
    );
  });

  it("has safe defaults for local development", () => {
    const config = loadConfig({});
    expect(config.environment).toBe("development");
    expect(config.host).toBe("127.0.0.1");
    expect(config.port).toBe(8000);
    expect(config.publicUrl).toBe("http://localhost:8000");
    expect(config.problemTypeBaseUrl).toBe("http://localhost:8000/problems");
    // Memory is given back after two quiet minutes unless turned off.
    expect(config.memoryReturnWhenQuiet).toBe(true);
    expect(loadConfig({ MEMORY_RETURN_WHEN_QUIET: "false" }).memoryReturnWhenQuiet).toBe(false);
  });
});

describe("OAuth providers", () => {
  it("enables a provider only with both its client id and secret", () => {
    const config = loadConfig({
      GOOGLE_CLIENT_ID: "google-id",
      GOOGLE_CLIENT_SECRET: "google-secret",
      GITHUB_CLIENT_ID: "github-id",
    });
    expect(Object.keys(config.oauth.providers)).toEqual(["google"]);
    expect(config.oauth.providers.google).toEqual({
      kind: "oidc",
      clientId: "google-id",
      clientSecret: "google-secret",
      issuer: "https://accounts.google.com",
    });
    expect(config.notices).toContain(
      "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET must be set together; github sign-in is off",
    );
    expect(loadConfig({}).oauth.providers).toEqual({});
  });

  it("derives Microsoft's issuer from MICROSOFT_TENANT, common by default", () => {
    const microsoft = (env: Record<string, string>) =>
      loadConfig({ MICROSOFT_CLIENT_ID: "id", MICROSOFT_CLIENT_SECRET: "secret", ...env }).oauth
        .providers.microsoft;
    expect(microsoft({})).toMatchObject({
      issuer: "https://login.microsoftonline.com/common/v2.0",
    });
    expect(microsoft({ MICROSOFT_TENANT: "organizations" })).toMatchObject({
      issuer: "https://login.microsoftonline.com/organizations/v2.0",
    });
    expect(microsoft({ MICROSOFT_TENANT: "8eaef023-2b34-4da1-9baa-8bc8c9d6a490" })).toMatchObject({
      issuer: "https://login.microsoftonline.com/8eaef023-2b34-4da1-9baa-8bc8c9d6a490/v2.0",
    });
    expect(
      microsoft({ MICROSOFT_ISSUER: "https://login.microsoftonline.us/contoso/v2.0/" }),
    ).toMatchObject({ issuer: "https://login.microsoftonline.us/contoso/v2.0" });
    expect(() => microsoft({ MICROSOFT_TENANT: "common/../evil" })).toThrow(/MICROSOFT_TENANT/);
  });

  it("points GitHub at github.com unless told otherwise", () => {
    const config = loadConfig({ GITHUB_CLIENT_ID: "id", GITHUB_CLIENT_SECRET: "secret" });
    expect(config.oauth.providers.github).toEqual({
      kind: "github",
      clientId: "id",
      clientSecret: "secret",
      url: "https://github.com",
      apiUrl: "https://api.github.com",
    });
  });

  it("refuses half a pair and plain-HTTP provider URLs in production", () => {
    expect(
      problemsOf(
        production({
          GOOGLE_CLIENT_SECRET: "only-the-secret",
          GITHUB_CLIENT_ID: "id",
          GITHUB_CLIENT_SECRET: "secret",
          GITHUB_URL: "http://github.internal",
        }),
      ),
    ).toEqual([
      "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET must be set together; google sign-in is off",
      "GITHUB_URL must be an https URL in production",
    ]);
  });
});
