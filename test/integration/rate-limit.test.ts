import { eq } from "drizzle-orm";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createApp } from "../../src/app.js";
import { tenants } from "../../src/core/database/index.js";
import { publicAccess } from "../../src/core/http/access.js";
import { tenantsModule } from "../../src/modules/tenants/index.js";
import { notesModule } from "../fixtures/notes-module/index.js";
import { TEST_REDIS_URL, testConfig } from "../helpers/app.js";
import { expectProblem } from "../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext } from "../helpers/tenancy.js";

const CLOSED_REDIS_URL = "redis://127.0.0.1:1";

/** A public route with its own policy, like the login route. */
const guardedModule: FastifyPluginAsyncZod = async (app) => {
  for (const [url, failClosed] of [
    ["/guarded", true],
    ["/lenient", false],
  ] as const) {
    app.post(
      url,
      {
        config: { access: publicAccess, rateLimit: { points: 2, durationSeconds: 60, failClosed } },
        schema: {
          operationId: url === "/guarded" ? "guardedRoute" : "lenientRoute",
          summary: "Limited route",
          tags: ["test"],
          response: { 200: z.object({ ok: z.boolean() }) },
        },
      },
      async () => ({ ok: true }),
    );
  }
};

const contexts: TenancyTestContext[] = [];
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((ctx) => ctx.close()));
});

async function setup(env: Record<string, string>) {
  const ctx = await setupTenancyTest(env);
  contexts.push(ctx);
  return ctx;
}

const backends = [
  ["redis", { REDIS_URL: TEST_REDIS_URL }],
  ["memory", { REDIS_URL: "" }],
] as const;

describe.each(backends)("rate limits on %s", (_name, backend) => {
  it("sends the limit headers in both spellings", async () => {
    const ctx = await setup({ ...backend, RATE_LIMIT_IP: "50" });
    const response = await ctx.app.inject({ url: "/health/live" });
    expect(response.statusCode).toBe(200);
    for (const prefix of ["", "x-"]) {
      expect(response.headers[`${prefix}ratelimit-limit`]).toBe("50");
      expect(response.headers[`${prefix}ratelimit-remaining`]).toBe("49");
      expect(Number(response.headers[`${prefix}ratelimit-reset`])).toBeGreaterThan(0);
    }
  });

  it("counts every request exactly while it grants points the process reserved", async () => {
    const ctx = await setup({ ...backend, RATE_LIMIT_IP: "30" });
    const remaining: string[] = [];
    for (let i = 0; i < 30; i++) {
      const response = await ctx.app.inject({ url: "/health/live" });
      expect(response.statusCode).toBe(200);
      remaining.push(String(response.headers["ratelimit-remaining"]));
    }
    expect(remaining).toEqual(Array.from({ length: 30 }, (_, i) => String(29 - i)));
    expectProblem(await ctx.app.inject({ url: "/health/live" }), "rate-limited");
  });

  it("limits each client IP and answers 429 with Retry-After", async () => {
    const ctx = await setup({ ...backend, RATE_LIMIT_IP: "3" });
    for (let i = 0; i < 3; i++) {
      expect((await ctx.app.inject({ url: "/health/live" })).statusCode).toBe(200);
    }
    const refused = await ctx.app.inject({ url: "/health/live" });
    expectProblem(refused, "rate-limited");
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(refused.headers["ratelimit-remaining"]).toBe("0");
    const otherClient = await ctx.app.inject({ url: "/health/live", remoteAddress: "10.1.2.3" });
    expect(otherClient.statusCode).toBe(200);
  });

  it("limits each tenant by its plan", async () => {
    const ctx = await setup({ ...backend, RATE_LIMIT_FREE: "2", RATE_LIMIT_PRO: "4" });
    const free = await ctx.newTenant();
    const pro = await ctx.newTenant();
    await ctx.database.bypassTenantIsolation("test: upgrade plan", (db) =>
      db.update(tenants).set({ plan: "pro" }).where(eq(tenants.id, pro.tenant.id)),
    );
    const list = (headers: { authorization: string }) =>
      ctx.app.inject({ url: "/api/v1/notes", headers });

    expect((await list(free.headers)).statusCode).toBe(200);
    const second = await list(free.headers);
    expect(second.statusCode).toBe(200);
    expect(second.headers["ratelimit-limit"]).toBe("2");
    expectProblem(await list(free.headers), "rate-limited");

    for (let i = 0; i < 4; i++) expect((await list(pro.headers)).statusCode).toBe(200);
    expectProblem(await list(pro.headers), "rate-limited");
  });

  it("keeps a route's own policy on when general limits are off", async () => {
    const ctx = await setup({ ...backend, RATE_LIMIT_ENABLED: "false", RATE_LIMIT_IP: "1" });
    const app = await createApp(ctx.config, {
      modules: [tenantsModule, notesModule, guardedModule],
    });
    try {
      for (let i = 0; i < 5; i++) {
        expect((await app.inject({ url: "/health/live" })).statusCode).toBe(200);
      }
      const post = () => app.inject({ method: "POST", url: "/api/v1/guarded" });
      expect((await post()).statusCode).toBe(200);
      expect((await post()).statusCode).toBe(200);
      expectProblem(await post(), "rate-limited");
    } finally {
      await app.close();
    }
  });
});

describe("rate limits when Redis is down", () => {
  it("let general traffic through by default (fail open)", async () => {
    const app = await createApp(testConfig({ REDIS_URL: CLOSED_REDIS_URL, RATE_LIMIT_IP: "1" }));
    try {
      for (let i = 0; i < 3; i++) {
        const response = await app.inject({ url: "/health/live" });
        expect(response.statusCode).toBe(200);
        expect(response.headers["ratelimit-limit"]).toBeUndefined();
      }
    } finally {
      await app.close();
    }
  });

  it("refuse general traffic with 503 when RATE_LIMIT_FAIL_OPEN=false", async () => {
    const app = await createApp(
      testConfig({ REDIS_URL: CLOSED_REDIS_URL, RATE_LIMIT_FAIL_OPEN: "false" }),
    );
    try {
      const response = await app.inject({ url: "/health/live" });
      expectProblem(response, "service-unavailable");
      expect(response.headers["retry-after"]).toBeDefined();
    } finally {
      await app.close();
    }
  });

  it("refuse a fail-closed route (login) but not a lenient one", async () => {
    const app = await createApp(testConfig({ REDIS_URL: CLOSED_REDIS_URL }), {
      modules: [guardedModule],
    });
    try {
      expectProblem(
        await app.inject({ method: "POST", url: "/api/v1/guarded" }),
        "service-unavailable",
      );
      expect((await app.inject({ method: "POST", url: "/api/v1/lenient" })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});
