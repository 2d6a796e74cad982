import { randomUUID } from "node:crypto";
import { hash, verify } from "@node-rs/argon2";
import { and, eq, sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../../../src/app.js";
import { auditLogs, createAuditLog } from "../../../../src/core/audit/index.js";
import { createSessionGuard } from "../../../../src/core/auth/index.js";
import { memberships, sessions, tenants, users } from "../../../../src/core/database/index.js";
import { createLogger } from "../../../../src/core/logging/index.js";
import { createLimiterFactory } from "../../../../src/core/rate-limit/index.js";
import { createAuthUseCases, createLoginThrottle } from "../../../../src/modules/auth/index.js";
import { createRolesService } from "../../../../src/modules/rbac/index.js";
import { TEST_REDIS_URL, testConfig } from "../../../helpers/app.js";
import {
  FROM_THE_APP,
  login,
  PASSWORD,
  randomAddress,
  refresh,
  refreshCookieOf,
  register,
  signedInFrom,
  signInAgain,
  switchTenant,
  uniqueEmail,
} from "../../../helpers/auth.js";
import { waitFor } from "../../../helpers/jobs.js";
import { LogCapture } from "../../../helpers/log-capture.js";
import { expectProblem } from "../../../helpers/problems.js";
import {
  expectedPermissionsOf,
  loadRouteExpectations,
} from "../../../helpers/route-expectations.js";
import { setupTenancyTest, type TenancyTestContext } from "../../../helpers/tenancy.js";
import { testModules, testPermissions } from "../../../helpers/test-modules.js";

/**
 * Sign-up, sign-in and sessions over HTTP, against the real PostgreSQL and Redis: the token
 * response and cookie, refresh-token rotation with reuse detection, CSRF, and revocation that
 * reaches every process at once.
 */

let ctx: TenancyTestContext;
const roles = createRolesService();
/** A second process on the same database and Redis, logging, with a one-second grace window. */
let other: FastifyInstance;
const otherLogs = new LogCapture();

beforeAll(async () => {
  ctx = await setupTenancyTest({ REFRESH_GRACE_SECONDS: "1" });
  other = await createApp(
    testConfig({
      DATABASE_URL: ctx.testDatabase.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: ctx.config.redisKeyPrefix,
      REFRESH_GRACE_SECONDS: "1",
      LOG_LEVEL: "info",
    }),
    { logStream: otherLogs },
  );
});
afterAll(async () => {
  await other?.close();
  await ctx?.close();
});

const me = (app: FastifyInstance, accessToken: string) =>
  app.inject({ url: "/api/v1/auth/me", headers: { authorization: `Bearer ${accessToken}` } });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function userRow(email: string) {
  return ctx.database.bypassTenantIsolation("test: inspect a user", async (db) => {
    const [row] = await db.select().from(users).where(sql`lower(${users.email}) = lower(${email})`);
    return row;
  });
}

describe("register", () => {
  it("creates the user, a tenant and an owner membership, and signs in", async () => {
    const email = uniqueEmail();
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/register",
      payload: { email, password: PASSWORD, name: "Ada Lovelace", tenantName: "Analytical Ltd" },
      remoteAddress: randomAddress(),
    });
    expect(response.statusCode, response.body).toBe(201);
    const body = response.json();
    expect(body).toEqual({
      accessToken: expect.any(String),
      tokenType: "Bearer",
      expiresIn: 900,
      user: { id: expect.any(String), email, name: "Ada Lovelace", emailVerified: false },
      tenant: { id: expect.any(String), name: "Analytical Ltd", slug: "analytical-ltd" },
    });
    // The refresh token travels only in the cookie.
    expect(JSON.stringify(body)).not.toContain(refreshCookieOf(response)?.value);

    const user = await userRow(email);
    expect(user?.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const [membership] = await ctx.database.bypassTenantIsolation("test", (db) =>
      db.select().from(memberships).where(eq(memberships.userId, body.user.id)),
    );
    expect(membership).toMatchObject({ tenantId: body.tenant.id, status: "active" });
    const held = await ctx.database.bypassTenantIsolation("test", (db) =>
      roles.rolesOfMember(db, body.user.id, [body.tenant.id]),
    );
    expect(held.get(body.tenant.id)?.roles.map((role) => role.name)).toEqual(["owner"]);

    const current = await me(ctx.app, body.accessToken);
    expect(current.statusCode, current.body).toBe(200);
    expect(current.json()).toMatchObject({
      user: { id: body.user.id, email },
      tenant: body.tenant,
      roles: ["owner"],
      memberships: [{ tenant: body.tenant, roles: ["owner"] }],
    });
    expect(current.json().permissions).toContain("tenants:delete");
  });

  it("sets the refresh cookie HttpOnly, SameSite=Strict, on the auth path, for 7 days", async () => {
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/register",
      payload: { email: uniqueEmail(), password: PASSWORD, name: "A", tenantName: "T" },
      remoteAddress: randomAddress(),
    });
    const header = [response.headers["set-cookie"]]
      .flat()
      .find((value) => value?.startsWith("refresh_token="));
    expect(header).toMatch(/^refresh_token=[A-Za-z0-9_-]{43};/);
    expect(header).toContain("Max-Age=604800");
    expect(header).toContain("Path=/api/v1/auth");
    expect(header).toContain("HttpOnly");
    expect(header).toContain("SameSite=Strict");
    // ENVIRONMENT=test, like development, allows plain http; elsewhere the cookie is Secure.
    expect(header).not.toContain("Secure");
  });

  it("answers 409 for an email already registered, in any letter case, and creates nothing", async () => {
    const first = await register(ctx.app);
    const tenantsBefore = await ctx.database.bypassTenantIsolation("test", (db) =>
      db.select({ id: tenants.id }).from(tenants),
    );
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/register",
      payload: {
        email: first.email.toUpperCase(),
        password: PASSWORD,
        name: "B",
        tenantName: "Another",
      },
      remoteAddress: randomAddress(),
    });
    expectProblem(response, "conflict");
    const tenantsAfter = await ctx.database.bypassTenantIsolation("test", (db) =>
      db.select({ id: tenants.id }).from(tenants),
    );
    expect(tenantsAfter).toHaveLength(tenantsBefore.length);
  });

  it.each([
    ["a short password", { password: "too short" }, "password"],
    ["a password over 128 characters", { password: "x".repeat(129) }, "password"],
    ["a common password", { password: "qwerty123456" }, "password"],
    ["a common password in other letter case", { password: "LeaveMeAlone" }, "password"],
    ["an invalid email", { email: "not-an-email" }, "email"],
    ["an empty name", { name: "  " }, "name"],
    ["a tenantId field", { tenantId: randomUUID() }, "tenantId"],
  ])("refuses %s with 422 naming the field", async (_, change, field) => {
    const email = uniqueEmail();
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/register",
      payload: { email, password: PASSWORD, name: "A", tenantName: "T", ...change },
      remoteAddress: randomAddress(),
    });
    const problem = expectProblem(response, "validation-failed");
    expect(problem.errors?.map((error) => error.field)).toContain(field);
    expect(await userRow((change as { email?: string }).email ?? email)).toBeUndefined();
  });
});

describe("login", () => {
  it("signs in with the right password and answers one 401 for every credential failure", async () => {
    const user = await register(ctx.app);
    const ok = await login(ctx.app, { email: user.email.toUpperCase(), password: PASSWORD });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().user.id).toBe(user.body.user.id);
    expect(refreshCookieOf(ok)?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const wrongPassword = await login(ctx.app, { email: user.email, password: `${PASSWORD}!` });
    const unknownEmail = await login(ctx.app, { email: uniqueEmail(), password: PASSWORD });
    const a = expectProblem(wrongPassword, "unauthorized");
    const b = expectProblem(unknownEmail, "unauthorized");
    expect(a.detail).toBe(b.detail);
    expect(refreshCookieOf(wrongPassword)).toBeUndefined();
  });

  it("rehashes a password made with weaker parameters at the next sign-in", async () => {
    const user = await register(ctx.app);
    const weak = await hash(PASSWORD, {
      algorithm: 2,
      memoryCost: 4_096,
      timeCost: 1,
      parallelism: 1,
    });
    await ctx.database.bypassTenantIsolation("test: weaken the hash", (db) =>
      db.update(users).set({ passwordHash: weak }).where(eq(users.id, user.body.user.id)),
    );
    const response = await login(ctx.app, { email: user.email, password: PASSWORD });
    expect(response.statusCode, response.body).toBe(200);
    const rehashed = (await userRow(user.email))?.passwordHash;
    expect(rehashed).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verify(rehashed as string, PASSWORD)).toBe(true);
  });

  it("refuses a deactivated user with the same 401", async () => {
    const user = await register(ctx.app);
    await ctx.database.bypassTenantIsolation("test", (db) =>
      db.update(users).set({ isActive: false }).where(eq(users.id, user.body.user.id)),
    );
    const response = await login(ctx.app, { email: user.email, password: PASSWORD });
    expect(expectProblem(response, "unauthorized").detail).toBe(
      "The email or password is incorrect.",
    );
  });

  it("enters the tenant asked for, or the one used last; 404 for a tenant not the user's", async () => {
    const user = await register(ctx.app);
    const second = await ctx.newTenant("Second Co");
    await ctx.database.bypassTenantIsolation("test", (db) =>
      roles.addMember(db, second.tenant.id, user.body.user.id, "member"),
    );
    const chosen = await login(ctx.app, {
      email: user.email,
      password: PASSWORD,
      tenantId: second.tenant.id,
    });
    expect(chosen.statusCode, chosen.body).toBe(200);
    expect(chosen.json().tenant.id).toBe(second.tenant.id);
    // Without tenantId: the tenant used last.
    const again = await login(ctx.app, { email: user.email, password: PASSWORD });
    expect(again.json().tenant.id).toBe(second.tenant.id);
    const meThere = await me(ctx.app, again.json().accessToken);
    expect(meThere.json()).toMatchObject({ roles: ["member"] });
    // What the modules' expectations give `member`, in catalog order (the modules' order).
    const member = expectedPermissionsOf(await loadRouteExpectations(), "member");
    expect(meThere.json().permissions).toEqual(testPermissions.all.filter((p) => member.has(p)));
    expect(new Set(meThere.json().permissions)).toEqual(member);

    const foreign = await ctx.newTenant();
    const refused = await login(ctx.app, {
      email: user.email,
      password: PASSWORD,
      tenantId: foreign.tenant.id,
    });
    expectProblem(refused, "not-found");
  });

  it("takes about the same time for an unknown email as for a wrong password", async () => {
    const user = await register(ctx.app);
    const time = async (email: string) => {
      const started = performance.now();
      // A fresh address each time: the per-IP limits must not answer instead.
      const response = await login(ctx.app, { email, password: "not the password at all" });
      expect(response.statusCode).toBe(401);
      const elapsed = performance.now() - started;
      // The failed sign-in of a real account is audited after the answer; let that finish so it
      // is not counted against the next attempt, which would be the other kind.
      await sleep(30);
      return elapsed;
    };
    // Warm-up: the first unknown email makes the dummy hash, once per process.
    for (let i = 0; i < 3; i++) {
      await time(user.email);
      await time(uniqueEmail());
    }
    // Compared pair by pair, each pair's two attempts in alternating order: the load of other
    // test files running beside this one moves both attempts of a pair alike, so it cancels in
    // the pair's difference, where it did not in the medians of two separate series.
    const known: number[] = [];
    const differences: number[] = [];
    for (let i = 0; i < 40; i++) {
      const knownFirst = i % 2 === 0;
      const first = await time(knownFirst ? user.email : uniqueEmail());
      const second = await time(knownFirst ? uniqueEmail() : user.email);
      const [knownMs, unknownMs] = knownFirst ? [first, second] : [second, first];
      known.push(knownMs);
      differences.push(knownMs - unknownMs);
    }
    const median = (values: number[]) => values.sort((x, y) => x - y)[values.length >> 1] as number;
    const difference = Math.abs(median(differences)) / median(known);
    expect(
      difference,
      `known ${median(known)} ms, median difference ${median(differences)} ms`,
    ).toBeLessThan(0.2);
  });
});

describe("refresh", () => {
  it("rotates the cookie and returns a working access token", async () => {
    const user = await register(ctx.app);
    const response = await refresh(ctx.app, user.refreshToken);
    expect(response.statusCode, response.body).toBe(200);
    const next = signedInFrom(response, user.email);
    expect(next.refreshToken).not.toBe(user.refreshToken);
    expect(next.body.user).toEqual(user.body.user);
    expect((await me(ctx.app, next.accessToken)).statusCode).toBe(200);
    // The rotated token's successor works in turn.
    expect((await refresh(ctx.app, next.refreshToken)).statusCode).toBe(200);
  });

  it("gives two refreshes racing with one token the same successor", async () => {
    const user = await register(ctx.app);
    const [a, b] = await Promise.all([
      refresh(ctx.app, user.refreshToken),
      refresh(other, user.refreshToken),
    ]);
    expect(a.statusCode, a.body).toBe(200);
    expect(b.statusCode, b.body).toBe(200);
    expect(refreshCookieOf(a)?.value).toBe(refreshCookieOf(b)?.value);
    // And both tabs go on with it.
    expect((await refresh(ctx.app, refreshCookieOf(a)?.value as string)).statusCode).toBe(200);
  });

  it("revokes the whole session when a rotated token is replayed after the grace window", async () => {
    const user = await register(ctx.app);
    const rotated = await refresh(ctx.app, user.refreshToken);
    const successor = signedInFrom(rotated, user.email);
    await sleep(1_100);
    otherLogs.clear();

    const replay = await refresh(other, user.refreshToken);
    expectProblem(replay, "unauthorized");
    expect(refreshCookieOf(replay)?.value ?? "").toBe("");
    // The successor and every access token of the session are dead too, in both processes.
    expectProblem(await refresh(ctx.app, successor.refreshToken), "unauthorized");
    expectProblem(await me(other, successor.accessToken), "unauthorized");
    await waitFor(
      "the other process to hear of it",
      async () => {
        return (await me(ctx.app, successor.accessToken)).statusCode === 401;
      },
      { timeoutMs: 500, intervalMs: 5 },
    );
    expectProblem(await me(ctx.app, user.accessToken), "unauthorized");

    const [event] = otherLogs.matching({ event: "refresh-token-reuse" });
    expect(event).toMatchObject({ level: "warn", userId: user.body.user.id });
    const [session] = await ctx.database.bypassTenantIsolation("test", (db) =>
      db.select().from(sessions).where(eq(sessions.userId, user.body.user.id)),
    );
    expect(session?.revokedReason).toBe("refresh-token-reuse");
  });

  it("detects a replay in a session without a tenant, and revokes it just the same", async () => {
    const user = await register(ctx.app);
    const deleted = await ctx.app.inject({
      method: "DELETE",
      url: "/api/v1/tenants/current",
      headers: user.headers,
    });
    expect(deleted.statusCode, deleted.body).toBe(204);
    const rotated = await refresh(ctx.app, user.refreshToken);
    expect(rotated.json().tenant).toBeNull();
    const successor = signedInFrom(rotated, user.email);
    expect((await me(ctx.app, successor.accessToken)).statusCode).toBe(200);
    await sleep(1_100);
    otherLogs.clear();

    expectProblem(await refresh(other, user.refreshToken), "unauthorized");
    expectProblem(await refresh(ctx.app, successor.refreshToken), "unauthorized");
    expectProblem(await me(other, successor.accessToken), "unauthorized");
    expect(otherLogs.matching({ event: "refresh-token-reuse" })).toHaveLength(1);
    const [session] = await ctx.database.bypassTenantIsolation("test", (db) =>
      db.select().from(sessions).where(eq(sessions.userId, user.body.user.id)),
    );
    expect(session?.currentTenantId).toBeNull();
    expect(session?.revokedReason).toBe("refresh-token-reuse");
  });

  it.each([
    ["no Origin, Referer or X-Requested-With", {}],
    ["a foreign Origin", { origin: "https://evil.example" }],
    ["a foreign Referer", { referer: "https://evil.example/page" }],
    [
      "a foreign Origin even with X-Requested-With",
      { origin: "https://evil.example", ...FROM_THE_APP },
    ],
  ])("refuses a refresh with %s (CSRF) and keeps the token", async (_, headers) => {
    const user = await register(ctx.app);
    const response = await refresh(ctx.app, user.refreshToken, headers as typeof FROM_THE_APP);
    expectProblem(response, "forbidden");
    expect((await refresh(ctx.app, user.refreshToken)).statusCode).toBe(200);
  });

  it("accepts the front end's Origin or Referer without X-Requested-With", async () => {
    const user = await register(ctx.app);
    const origin = ctx.config.corsOrigins[0] as string;
    const byOrigin = await refresh(ctx.app, user.refreshToken, { origin } as never);
    expect(byOrigin.statusCode, byOrigin.body).toBe(200);
    const next = refreshCookieOf(byOrigin)?.value as string;
    const byReferer = await refresh(ctx.app, next, { referer: `${origin}/app/page` } as never);
    expect(byReferer.statusCode, byReferer.body).toBe(200);
  });

  it("answers 401 without a cookie, or with an unknown or malformed one", async () => {
    expectProblem(
      await ctx.app.inject({ method: "POST", url: "/api/v1/auth/refresh", headers: FROM_THE_APP }),
      "unauthorized",
    );
    expectProblem(await refresh(ctx.app, "A".repeat(43)), "unauthorized");
    expectProblem(await refresh(ctx.app, "not a token"), "unauthorized");
  });
});

describe("logout", () => {
  it("with the cookie: 204, clears the cookie, and the access token stops working at once", async () => {
    const user = await register(ctx.app);
    expect((await me(other, user.accessToken)).statusCode).toBe(200);
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout",
      cookies: { refresh_token: user.refreshToken },
      headers: FROM_THE_APP,
    });
    expect(response.statusCode).toBe(204);
    const cleared = refreshCookieOf(response);
    expect(cleared?.value).toBe("");
    expect(cleared?.path).toBe("/api/v1/auth");
    expectProblem(await me(ctx.app, user.accessToken), "unauthorized");
    await waitFor(
      "the other process to refuse it",
      async () => {
        return (await me(other, user.accessToken)).statusCode === 401;
      },
      { timeoutMs: 500, intervalMs: 5 },
    );
    expectProblem(await refresh(ctx.app, user.refreshToken), "unauthorized");
  });

  it("with a bearer token: ends that session only", async () => {
    const user = await register(ctx.app);
    const second = await signInAgain(ctx.app, user);
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout",
      headers: user.headers,
    });
    expect(response.statusCode).toBe(204);
    expectProblem(await me(ctx.app, user.accessToken), "unauthorized");
    expect((await me(ctx.app, second.accessToken)).statusCode).toBe(200);
  });

  it("refuses to act on a cookie sent without the CSRF proof", async () => {
    const user = await register(ctx.app);
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout",
      cookies: { refresh_token: user.refreshToken },
    });
    expectProblem(response, "forbidden");
    expect((await me(ctx.app, user.accessToken)).statusCode).toBe(200);
  });

  it("logout-all ends every session of the user, in every process", async () => {
    const user = await register(ctx.app);
    const second = await signInAgain(ctx.app, user);
    expect((await me(other, second.accessToken)).statusCode).toBe(200);
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout-all",
      headers: user.headers,
    });
    expect(response.statusCode).toBe(204);
    for (const token of [user.accessToken, second.accessToken]) {
      expectProblem(await me(ctx.app, token), "unauthorized");
      await waitFor(
        "the other process to refuse it",
        async () => {
          return (await me(other, token)).statusCode === 401;
        },
        { timeoutMs: 500, intervalMs: 5 },
      );
    }
    expectProblem(await refresh(ctx.app, second.refreshToken), "unauthorized");
  });
});

describe("access ends at once", () => {
  /** The auth use cases of a third process (a worker, an admin script) sharing Redis. */
  async function elsewhere() {
    const config = testConfig({
      DATABASE_URL: ctx.testDatabase.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: ctx.config.redisKeyPrefix,
    });
    const logger = createLogger(config);
    const { Redis } = await import("ioredis");
    const redis = new Redis(TEST_REDIS_URL);
    // Connected first, so the guard waits for its subscription and holds answers from the start.
    await new Promise((resolve) => redis.once("ready", resolve));
    const guard = await createSessionGuard({
      database: ctx.database,
      redis,
      channel: `${config.redisKeyPrefix}session-revocations`,
      logger,
    });
    const { accounts } = createAuthUseCases({
      config,
      database: ctx.database,
      tokens: ctx.tokens,
      sessions: guard,
      jobs: ctx.app.jobs,
      sendEmail: undefined as never,
      throttle: createLoginThrottle(createLimiterFactory(redis, config.redisKeyPrefix)),
      audit: createAuditLog(ctx.database),
      logger,
    });
    return {
      accounts,
      guard,
      async close() {
        await guard.close();
        redis.disconnect();
      },
    };
  }

  it("is answered without a promise while the process holds the session's answer", async () => {
    const user = await register(ctx.app);
    const payload = user.accessToken.split(".")[1] ?? "";
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    const principal = { userId: claims.sub, tenantId: claims.tid, sessionId: claims.sid };
    const third = await elsewhere();
    try {
      const first = third.guard.access(principal);
      expect(first).toBeInstanceOf(Promise);
      const answer = await first;
      expect(answer?.permissions.size).toBeGreaterThan(0);
      // Held now: authentication's hook goes on in the same turn.
      expect(third.guard.access(principal)).toBe(answer);
      expect(await third.accounts.deactivateUser(user.body.user.id)).toBe(true);
      // The revocation ended the held answer: the database is asked again, and says no.
      const after = third.guard.access(principal);
      expect(after).toBeInstanceOf(Promise);
      expect(await after).toBeUndefined();
    } finally {
      await third.close();
    }
  });

  it("for a deactivated user, on the next request", async () => {
    const user = await register(ctx.app);
    expect((await me(ctx.app, user.accessToken)).statusCode).toBe(200);
    const third = await elsewhere();
    try {
      expect(await third.accounts.deactivateUser(user.body.user.id)).toBe(true);
      await waitFor(
        "the app to refuse it",
        async () => {
          return (await me(ctx.app, user.accessToken)).statusCode === 401;
        },
        { timeoutMs: 500, intervalMs: 5 },
      );
      expectProblem(await refresh(ctx.app, user.refreshToken), "unauthorized");
    } finally {
      await third.close();
    }
  });

  it("for a member removed from the tenant, for that tenant only", async () => {
    const user = await register(ctx.app);
    const second = await ctx.newTenant("Kept");
    await ctx.database.bypassTenantIsolation("test", (db) =>
      roles.addMember(db, second.tenant.id, user.body.user.id, "member"),
    );
    const inSecond = await switchTenant(ctx.app, user, second.tenant.id);
    expect(inSecond.statusCode, inSecond.body).toBe(200);
    const secondToken = inSecond.json().accessToken as string;
    expect((await me(ctx.app, user.accessToken)).statusCode).toBe(200);

    const third = await elsewhere();
    try {
      expect(await third.accounts.removeMembership(user.body.tenant.id, user.body.user.id)).toBe(
        true,
      );
      await waitFor(
        "the app to refuse it",
        async () => {
          return (await me(ctx.app, user.accessToken)).statusCode === 401;
        },
        { timeoutMs: 500, intervalMs: 5 },
      );
      expect((await me(ctx.app, secondToken)).statusCode).toBe(200);
    } finally {
      await third.close();
    }
  });

  it("for a validly signed token naming a tenant the user does not belong to", async () => {
    const user = await register(ctx.app);
    const foreign = await ctx.newTenant();
    const forged = await ctx.tokens.signAccessToken({
      sub: user.body.user.id,
      tid: foreign.tenant.id,
      sid: (
        await ctx.database.bypassTenantIsolation("test", (db) =>
          db.select().from(sessions).where(eq(sessions.userId, user.body.user.id)),
        )
      )[0]?.id as string,
    });
    const response = await ctx.app.inject({
      url: "/api/v1/notes",
      headers: { authorization: `Bearer ${forged}` },
    });
    expectProblem(response, "unauthorized");
  });
});

describe("switch-tenant", () => {
  it("issues a token for another tenant of the user, rotating the cookie, and 404 otherwise", async () => {
    const user = await register(ctx.app);
    const second = await ctx.newTenant("Elsewhere");
    await ctx.database.bypassTenantIsolation("test", (db) =>
      roles.addMember(db, second.tenant.id, user.body.user.id, "member"),
    );
    const response = await switchTenant(ctx.app, user, second.tenant.id, user.refreshToken);
    expect(response.statusCode, response.body).toBe(200);
    const switched = signedInFrom(response, user.email);
    expect(switched.body.tenant.id).toBe(second.tenant.id);
    const notes = await ctx.app.inject({ url: "/api/v1/notes", headers: switched.headers });
    expect(notes.statusCode).toBe(200);
    // The rotated cookie refreshes into the new tenant.
    const refreshed = await refresh(ctx.app, switched.refreshToken);
    expect(refreshed.json().tenant.id).toBe(second.tenant.id);

    const foreign = await ctx.newTenant();
    const refused = await switchTenant(ctx.app, user, foreign.tenant.id);
    expectProblem(refused, "not-found");
  });
});

describe("password change", () => {
  it("ends the other sessions, keeps this one, and needs the current password", async () => {
    const user = await register(ctx.app);
    const second = await signInAgain(ctx.app, user);
    const wrong = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/password/change",
      headers: user.headers,
      payload: { currentPassword: "not it at all", newPassword: "a whole new passphrase" },
    });
    expect(expectProblem(wrong, "validation-failed").errors).toEqual([
      { field: "currentPassword", message: "is incorrect" },
    ]);
    const changed = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/password/change",
      headers: user.headers,
      payload: { currentPassword: PASSWORD, newPassword: "a whole new passphrase" },
    });
    expect(changed.statusCode, changed.body).toBe(204);
    expect((await me(ctx.app, user.accessToken)).statusCode).toBe(200);
    expectProblem(await me(ctx.app, second.accessToken), "unauthorized");
    expectProblem(await login(ctx.app, { email: user.email, password: PASSWORD }), "unauthorized");
    const again = await login(ctx.app, { email: user.email, password: "a whole new passphrase" });
    expect(again.statusCode).toBe(200);
  });
});

describe("brute force", () => {
  it("limits sign-in attempts per IP (429 with Retry-After)", async () => {
    const address = randomAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) {
      statuses.push(
        (await login(ctx.app, { email: uniqueEmail(), password: "wrong password" }, address))
          .statusCode,
      );
    }
    expect(statuses.slice(0, 20).every((status) => status === 401)).toBe(true);
    const refused = await login(ctx.app, { email: uniqueEmail(), password: "x" }, address);
    expectProblem(refused, "rate-limited");
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
  });

  it("refuses an account from an IP after 10 failures there, but not from other IPs", async () => {
    const user = await register(ctx.app);
    const attacker = randomAddress();
    for (let i = 0; i < 10; i++) {
      const response = await login(
        ctx.app,
        { email: user.email, password: `guess ${i}` },
        attacker,
      );
      expect(response.statusCode).toBe(401);
    }
    // Even the right password is refused from there now.
    const blocked = await login(ctx.app, { email: user.email, password: PASSWORD }, attacker);
    expectProblem(blocked, "rate-limited");
    // The owner, elsewhere, signs in.
    const owner = await login(ctx.app, { email: user.email, password: PASSWORD }, randomAddress());
    expect(owner.statusCode, owner.body).toBe(200);
  });
});

describe("brute force across addresses", () => {
  it("refuses the account after 100 failures in the hour, except where the owner signed in before", async () => {
    const user = await register(ctx.app);
    const home = randomAddress();
    expect((await login(ctx.app, { email: user.email, password: PASSWORD }, home)).statusCode).toBe(
      200,
    );
    for (let address = 0; address < 10; address++) {
      const from = randomAddress();
      await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const response = await login(
            ctx.app,
            { email: user.email, password: `guess ${i}` },
            from,
          );
          expect(response.statusCode).toBe(401);
        }),
      );
    }
    const refused = await login(
      ctx.app,
      { email: user.email, password: PASSWORD },
      randomAddress(),
    );
    expectProblem(refused, "rate-limited");
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(3000);
    // The owner's usual address is not locked out.
    const owner = await login(ctx.app, { email: user.email, password: PASSWORD }, home);
    expect(owner.statusCode, owner.body).toBe(200);
  });
});

describe("when sessions cannot be checked", () => {
  it("answers 503, not 500, and lets nothing through", async () => {
    const user = await register(ctx.app);
    const failing = await createApp(
      testConfig({ DATABASE_URL: ctx.testDatabase.url, REDIS_URL: "" }),
      {
        modules: testModules,
        sessionGuard: {
          access: () => Promise.reject(new Error("connection terminated unexpectedly")),
          revoke: async () => {},
          close: async () => {},
        },
      },
    );
    try {
      const response = await failing.inject({ url: "/api/v1/notes", headers: user.headers });
      expectProblem(response, "service-unavailable");
      expect(response.headers["retry-after"]).toBe("5");
    } finally {
      await failing.close();
    }
  });
});

describe("the tenant role", () => {
  it("cannot read a password hash, not even the signed-in user's own", async () => {
    const user = await register(ctx.app);
    const error = await ctx.database
      .forTenant({ tenantId: user.body.tenant.id, userId: user.body.user.id })
      .transaction((db) => db.execute(sql`select password_hash from users`))
      .catch((caught: unknown) => caught);
    expect(String((error as { cause?: unknown }).cause ?? error)).toMatch(/permission denied/);
  });
});

describe("users/me", () => {
  it("reads and renames the signed-in user", async () => {
    const user = await register(ctx.app);
    const read = await ctx.app.inject({ url: "/api/v1/users/me", headers: user.headers });
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json()).toEqual({
      id: user.body.user.id,
      email: user.email,
      name: "Ada Lovelace",
      emailVerified: false,
      createdAt: expect.any(String),
    });
    const renamed = await ctx.app.inject({
      method: "PATCH",
      url: "/api/v1/users/me",
      headers: user.headers,
      payload: { name: "Countess of Lovelace" },
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json().name).toBe("Countess of Lovelace");
    const refused = await ctx.app.inject({
      method: "PATCH",
      url: "/api/v1/users/me",
      headers: user.headers,
      payload: { email: "new@example.test" },
    });
    expectProblem(refused, "validation-failed");
    expect((await userRow(user.email))?.name).toBe("Countess of Lovelace");
  });
});

/** The audit rows of `action` about the account `userId`, in every tenant. */
function accountEvents(action: string, userId: string) {
  return ctx.database.bypassTenantIsolation("test: read the audit log", (db) =>
    db
      .select()
      .from(auditLogs)
      .where(and(eq(auditLogs.action, action), eq(auditLogs.resourceId, userId))),
  );
}

function changePassword(
  user: { headers: { authorization: string } },
  currentPassword: string,
  newPassword: string,
) {
  return ctx.app.inject({
    method: "POST",
    url: "/api/v1/auth/password/change",
    headers: user.headers,
    payload: { currentPassword, newPassword },
  });
}

describe("password strength", () => {
  it.each([
    ["111111111111", /Repeated characters/],
    ["abcabcabcabc", /Repeated patterns/],
    ["P@ssw0rd1234", /similar to a commonly used password/],
    ["letmeinletmein", /Repeated patterns/],
  ])(
    "refuses %s at registration with a 422 that says why, creating nothing",
    async (password, why) => {
      const email = uniqueEmail();
      const response = await ctx.app.inject({
        method: "POST",
        url: "/api/v1/auth/register",
        remoteAddress: randomAddress(),
        payload: { email, password, name: "Ada Lovelace", tenantName: "Analytical Ltd" },
      });
      const problem = expectProblem(response, "validation-failed");
      expect(problem.detail).toMatch(/^The password is too easy to guess\. /);
      expect(problem.errors).toEqual([{ field: "password", message: expect.stringMatching(why) }]);
      expect(await userRow(email)).toBeUndefined();
    },
  );

  it("counts the account's own name, email and organisation as guessable words", async () => {
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/register",
      remoteAddress: randomAddress(),
      payload: {
        email: uniqueEmail(),
        password: "marguerite yourcenar",
        name: "Marguerite Yourcenar",
        tenantName: "Memoirs",
      },
    });
    expect(expectProblem(response, "validation-failed").errors?.[0]?.message).toMatch(
      /name, email address or organisation/,
    );
    // Anybody else may choose it.
    await register(ctx.app, { password: "marguerite yourcenar", name: "Grace Hopper" });
  });

  it("refuses a weak new password at change, and the old one still works", async () => {
    const user = await register(ctx.app);
    const response = await changePassword(user, PASSWORD, "letmeinletmein");
    expect(expectProblem(response, "validation-failed").errors).toEqual([
      { field: "newPassword", message: expect.stringMatching(/Repeated patterns/) },
    ]);
    expect((await login(ctx.app, { email: user.email, password: PASSWORD })).statusCode).toBe(200);
  });
});

describe("password normal form", () => {
  const composed = "crème brûlée à la française";
  const decomposed = composed.normalize("NFD");

  it("signs in with the passphrase typed with composed or decomposed accents", async () => {
    const user = await register(ctx.app, { password: decomposed });
    expect((await login(ctx.app, { email: user.email, password: composed })).statusCode).toBe(200);
    expect((await login(ctx.app, { email: user.email, password: decomposed })).statusCode).toBe(
      200,
    );
  });

  it("accepts a hash of the passphrase as typed, made before normalising, and replaces it", async () => {
    const user = await register(ctx.app);
    const legacy = await hash(decomposed, {
      algorithm: 2,
      memoryCost: 19_456,
      timeCost: 2,
      parallelism: 1,
    });
    await ctx.database.bypassTenantIsolation("test: a hash made before normalising", (db) =>
      db.update(users).set({ passwordHash: legacy }).where(eq(users.id, user.body.user.id)),
    );
    const typed = await login(ctx.app, { email: user.email, password: decomposed });
    expect(typed.statusCode, typed.body).toBe(200);
    const replaced = (await userRow(user.email))?.passwordHash as string;
    expect(replaced).not.toBe(legacy);
    expect(await verify(replaced, composed)).toBe(true);
    expect((await login(ctx.app, { email: user.email, password: composed })).statusCode).toBe(200);
  });
});

describe("security trail", () => {
  it("records a password change in the audit log of each of the user's tenants", async () => {
    const user = await register(ctx.app);
    const second = await ctx.newTenant("Second Home");
    await ctx.database.bypassTenantIsolation("test", (db) =>
      roles.addMember(db, second.tenant.id, user.body.user.id, "member"),
    );
    await signInAgain(ctx.app, user);
    const changed = await changePassword(user, PASSWORD, "a whole new passphrase");
    expect(changed.statusCode, changed.body).toBe(204);

    const rows = await accountEvents("auth.password_changed", user.body.user.id);
    expect(rows.map((row) => row.tenantId).sort()).toEqual(
      [user.body.tenant.id, second.tenant.id].sort(),
    );
    for (const row of rows) {
      expect(row).toMatchObject({
        actorId: user.body.user.id,
        resourceType: "user",
        metadata: { sessionsEnded: 1 },
        ip: "127.0.0.1",
        requestId: expect.any(String),
      });
    }
  });

  it("records logout-all with the number of sessions it ended", async () => {
    const user = await register(ctx.app);
    await signInAgain(ctx.app, user);
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout-all",
      headers: user.headers,
    });
    expect(response.statusCode).toBe(204);
    const [row, ...more] = await accountEvents("auth.logout_all", user.body.user.id);
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      tenantId: user.body.tenant.id,
      actorId: user.body.user.id,
      metadata: { sessionsEnded: 2 },
    });
  });

  it("logs each failed sign-in without its address or password, and audits those of an account", async () => {
    const user = await register(ctx.app);
    const unknown = uniqueEmail();
    otherLogs.clear();
    const wrong = await login(other, { email: user.email, password: "not the password at all" });
    expectProblem(wrong, "unauthorized");
    expectProblem(
      await login(other, { email: unknown, password: "nobody's password" }),
      "unauthorized",
    );

    const [wrongLine] = otherLogs.matching({ event: "login-failed", reason: "wrong-password" });
    expect(wrongLine).toMatchObject({
      level: "info",
      userId: user.body.user.id,
      emailHash: expect.stringMatching(/^[\w-]{22}$/),
      ip: expect.any(String),
    });
    const [unknownLine] = otherLogs.matching({ event: "login-failed", reason: "unknown-email" });
    expect(unknownLine).toMatchObject({ emailHash: expect.stringMatching(/^[\w-]{22}$/) });
    expect(unknownLine).not.toHaveProperty("userId");
    expect(unknownLine?.emailHash).not.toBe(wrongLine?.emailHash);
    const logged = JSON.stringify(otherLogs.lines);
    for (const secret of [user.email, unknown, "not the password at all", "nobody's password"]) {
      expect(logged).not.toContain(secret);
    }

    const [row, ...more] = await waitFor("the audit row", async () => {
      const rows = await accountEvents("auth.login_failed", user.body.user.id);
      return rows.length > 0 ? rows : undefined;
    });
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      tenantId: user.body.tenant.id,
      actorId: null,
      resourceType: "user",
      metadata: { reason: "wrong-password" },
      ip: wrongLine?.ip,
    });
  });

  it("logs and audits a sign-in refused after too many failures, and one of a deactivated account", async () => {
    const user = await register(ctx.app);
    const attacker = randomAddress();
    for (let i = 0; i < 10; i++) {
      await login(other, { email: user.email, password: `guess number ${i}` }, attacker);
    }
    otherLogs.clear();
    expectProblem(
      await login(other, { email: user.email, password: PASSWORD }, attacker),
      "rate-limited",
    );
    expect(otherLogs.matching({ event: "login-failed", reason: "locked-out" })).toEqual([
      expect.objectContaining({ level: "warn", ip: attacker }),
    ]);
    await waitFor("the locked-out row", async () => {
      const rows = await accountEvents("auth.login_failed", user.body.user.id);
      return rows.some((row) => row.metadata.reason === "locked-out");
    });

    await ctx.database.bypassTenantIsolation("test", (db) =>
      db.update(users).set({ isActive: false }).where(eq(users.id, user.body.user.id)),
    );
    expectProblem(await login(other, { email: user.email, password: PASSWORD }), "unauthorized");
    expect(otherLogs.matching({ event: "login-failed", reason: "inactive-account" })).toHaveLength(
      1,
    );
    await waitFor("the inactive-account row", async () => {
      const rows = await accountEvents("auth.login_failed", user.body.user.id);
      return rows.some((row) => row.metadata.reason === "inactive-account");
    });
  });
});
