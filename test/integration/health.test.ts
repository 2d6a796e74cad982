import { existsSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it, vi } from "vitest";
import packageJson from "../../package.json" with { type: "json" };
import { createApp } from "../../src/app.js";
import {
  buildTestApp,
  productionTestConfig,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
} from "../helpers/app.js";

/** Nothing listens on port 1: connections are refused at once. */
const CLOSED_DATABASE_URL = "postgres://postgres@127.0.0.1:1/postgres";
const CLOSED_REDIS_URL = "redis://127.0.0.1:1";

interface Readiness {
  status: "ready" | "degraded";
  checks: { database: string; redis: string };
}

describe("health and info", () => {
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  async function build(env: Record<string, string | undefined> = {}) {
    const app = await buildTestApp(env);
    apps.push(app);
    return app;
  }

  async function ready(app: FastifyInstance) {
    const response = await app.inject({ method: "GET", url: "/health/ready" });
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    return { status: response.statusCode, body: response.json<Readiness>() };
  }

  it("answers /health/live with alive", async () => {
    const app = await build();
    const response = await app.inject({ method: "GET", url: "/health/live" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    expect(response.json()).toEqual({ status: "alive" });
  });

  it("answers /health/live even when every backing service is down", async () => {
    const app = await build({ DATABASE_URL: CLOSED_DATABASE_URL, REDIS_URL: CLOSED_REDIS_URL });
    const response = await app.inject({ method: "GET", url: "/health/live" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "alive" });
  });

  it("is ready when PostgreSQL and Redis answer", async () => {
    const app = await build({ DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: TEST_REDIS_URL });
    expect(await ready(app)).toEqual({
      status: 200,
      body: { status: "ready", checks: { database: "ok", redis: "ok" } },
    });
  });

  // Creating and migrating the embedded database takes 10 s on a quiet 2-core machine and over
  // 50 s on a busy one.
  it("checks the embedded database and reports an unconfigured Redis as disabled", {
    timeout: 120_000,
  }, async () => {
    const app = await build({ DATABASE_URL: undefined, REDIS_URL: undefined });
    expect(await ready(app)).toEqual({
      status: 200,
      body: { status: "ready", checks: { database: "ok", redis: "disabled" } },
    });
    // The test environment's embedded database lives in memory, not in a folder named after it.
    expect(existsSync(join(process.cwd(), "memory:"))).toBe(false);
  });

  it("answers 503 degraded and names the database when it refuses connections", async () => {
    const app = await build({ DATABASE_URL: CLOSED_DATABASE_URL, REDIS_URL: TEST_REDIS_URL });
    const { status, body } = await ready(app);
    expect(status).toBe(503);
    expect(body.status).toBe("degraded");
    expect(body.checks.redis).toBe("ok");
    expect(body.checks.database).not.toBe("ok");
    expect(body.checks.database).not.toBe("disabled");
    // Outside production the failure may say what went wrong.
    expect(body.checks.database).toMatch(/^error/);
  });

  it("answers 503 degraded and names Redis when it refuses connections", async () => {
    const app = await build({ DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: CLOSED_REDIS_URL });
    const { status, body } = await ready(app);
    expect(status).toBe(503);
    expect(body.status).toBe("degraded");
    expect(body.checks.database).toBe("ok");
    expect(body.checks.redis).not.toBe("ok");
    expect(body.checks.redis).not.toBe("disabled");
    expect(body.checks.redis).toMatch(/^error/);
  });

  it("keeps a process whose backing services are all down in the balancer's rotation (/health/serving)", async () => {
    const app = await build({ DATABASE_URL: CLOSED_DATABASE_URL, REDIS_URL: CLOSED_REDIS_URL });
    const serving = await app.inject({ method: "GET", url: "/health/serving" });
    expect(serving.statusCode).toBe(200);
    expect(serving.json()).toEqual({ status: "serving" });
    // Readiness still tells operators what is down.
    expect((await ready(app)).status).toBe(503);
    // Draining takes it out.
    app.startDraining();
    const draining = await app.inject({ method: "GET", url: "/health/serving" });
    expect(draining.statusCode).toBe(503);
    expect(draining.json()).toEqual({ status: "draining" });
  });

  it("keeps Redis connection errors off the console (they belong in the log)", async () => {
    const consoleError = vi.spyOn(console, "error");
    try {
      const app = await build({ REDIS_URL: CLOSED_REDIS_URL });
      const { status } = await ready(app);
      expect(status).toBe(503);
      const printed = consoleError.mock.calls.map((call) => call.map(String).join(" "));
      expect(printed.filter((line) => line.includes("ioredis"))).toEqual([]);
    } finally {
      consoleError.mockRestore();
    }
  });

  it('says only "error" for a failing check in production', async () => {
    const config = productionTestConfig({
      DATABASE_URL: CLOSED_DATABASE_URL,
      DATABASE_SYSTEM_URL: CLOSED_DATABASE_URL.replace("postgres@", "system@"),
    });
    const app = await createApp(config);
    apps.push(app);
    const response = await app.inject({ method: "GET", url: "/health/ready" });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({
      status: "degraded",
      checks: { database: "error", redis: "ok" },
    });
    expect(response.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|connect/i);
  });

  it("answers /info with the package name and version and the environment", async () => {
    const app = await build();
    const response = await app.inject({ method: "GET", url: "/info" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      name: packageJson.name,
      version: packageJson.version,
      environment: "test",
    });
  });
});
