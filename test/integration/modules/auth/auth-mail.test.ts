import { and, eq, sql } from "drizzle-orm";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBackground } from "../../../../src/background.js";
import { auditLogs } from "../../../../src/core/audit/index.js";
import { newId, sessions, users } from "../../../../src/core/database/index.js";
import { createOutboxRelay, jobOutbox } from "../../../../src/core/jobs/index.js";
import {
  authCleanups,
  hashOpaqueToken,
  newOpaqueToken,
} from "../../../../src/modules/auth/index.js";
import { oneTimeTokens } from "../../../../src/modules/auth/one-time-tokens.table.js";
import { refreshTokens } from "../../../../src/modules/auth/refresh-tokens.table.js";
import {
  login,
  PASSWORD,
  randomAddress,
  refresh,
  register,
  signInAgain,
  uniqueEmail,
} from "../../../helpers/auth.js";
import { createQueueHarness, sleep, waitFor } from "../../../helpers/jobs.js";
import { expectProblem } from "../../../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext } from "../../../helpers/tenancy.js";

/**
 * The mailed flows (email verification, password reset) end to end: the app runs its jobs in
 * the process (no REDIS_URL) and keeps the messages it would have sent, so the tests read the
 * link out of the email like a user would.
 */

let ctx: TenancyTestContext;
beforeAll(async () => {
  ctx = await setupTenancyTest({ REDIS_URL: "" });
});
afterAll(() => ctx?.close());

const NEW_PASSWORD = "an entirely new passphrase";

/** The token of the last link mailed to `to` on `page`, waiting for the email to arrive. */
function mailedToken(to: string, page: "reset-password" | "verify-email", nth = 1) {
  return waitFor(`email to ${to}`, () => {
    const links = ctx.app.mailer.outbox
      .filter((message) => message.to === to)
      .flatMap((message) => message.text.match(/https?:\/\/\S+/g) ?? [])
      .filter((link) => link.includes(`/${page}?token=`));
    const link = links[nth - 1];
    return link ? (new URL(link).searchParams.get("token") ?? undefined) : undefined;
  });
}

const mailsTo = (to: string) => ctx.app.mailer.outbox.filter((message) => message.to === to);

function post(url: string, payload?: Record<string, unknown>, headers?: Record<string, string>) {
  return ctx.app.inject({
    method: "POST",
    url,
    remoteAddress: randomAddress(),
    ...(payload ? { payload } : {}),
    ...(headers ? { headers } : {}),
  });
}

describe("email verification", () => {
  it("mails a link at registration; the token verifies once", async () => {
    const user = await register(ctx.app);
    const token = await mailedToken(user.email, "verify-email");
    expect(mailsTo(user.email)[0]?.text).toContain(`${ctx.config.frontendUrl}/verify-email?token=`);

    expect((await post("/api/v1/auth/email/verify", { token })).statusCode).toBe(204);
    const me = await ctx.app.inject({ url: "/api/v1/users/me", headers: user.headers });
    expect(me.json().emailVerified).toBe(true);

    const again = await post("/api/v1/auth/email/verify", { token });
    expectProblem(again, "bad-request");
  });

  it("resend retires the earlier link; a verified address gets no more mail", async () => {
    const user = await register(ctx.app);
    const first = await mailedToken(user.email, "verify-email");
    const resent = await post("/api/v1/auth/email/verify/resend", undefined, user.headers);
    expect(resent.statusCode).toBe(202);
    const second = await mailedToken(user.email, "verify-email", 2);
    expect(second).not.toBe(first);
    expectProblem(await post("/api/v1/auth/email/verify", { token: first }), "bad-request");
    expect((await post("/api/v1/auth/email/verify", { token: second })).statusCode).toBe(204);

    const count = mailsTo(user.email).length;
    expect(
      (await post("/api/v1/auth/email/verify/resend", undefined, user.headers)).statusCode,
    ).toBe(202);
    await sleep(700);
    expect(mailsTo(user.email)).toHaveLength(count);
  });

  it("refuses an unknown or malformed token with 400", async () => {
    expectProblem(
      await post("/api/v1/auth/email/verify", { token: "A".repeat(43) }),
      "bad-request",
    );
    expectProblem(await post("/api/v1/auth/email/verify", { token: "nope" }), "bad-request");
  });
});

describe("password reset", () => {
  it("answers 202 for an unknown address and mails nothing", async () => {
    const email = uniqueEmail();
    const response = await post("/api/v1/auth/password/forgot", { email });
    expect(response.statusCode).toBe(202);
    expect(response.body).toBe("");
    await sleep(700);
    expect(mailsTo(email)).toEqual([]);
  });

  it("mails a single-use link that sets the password and ends every session", async () => {
    const user = await register(ctx.app);
    const other = await signInAgain(ctx.app, user);
    const forgot = await post("/api/v1/auth/password/forgot", { email: user.email.toUpperCase() });
    expect(forgot.statusCode).toBe(202);
    const token = await mailedToken(user.email, "reset-password");
    expect(mailsTo(user.email).at(-1)?.subject).toBe("Reset your password");

    const weak = await post("/api/v1/auth/password/reset", { token, password: "qwerty123456" });
    expectProblem(weak, "validation-failed");

    const reset = await post("/api/v1/auth/password/reset", { token, password: NEW_PASSWORD });
    expect(reset.statusCode, reset.body).toBe(204);
    for (const signedIn of [user, other]) {
      const me = await ctx.app.inject({ url: "/api/v1/auth/me", headers: signedIn.headers });
      expectProblem(me, "unauthorized");
      expectProblem(await refresh(ctx.app, signedIn.refreshToken), "unauthorized");
    }
    expectProblem(await login(ctx.app, { email: user.email, password: PASSWORD }), "unauthorized");
    expect((await login(ctx.app, { email: user.email, password: NEW_PASSWORD })).statusCode).toBe(
      200,
    );

    const reused = await post("/api/v1/auth/password/reset", {
      token,
      password: "yet another passphrase",
    });
    expectProblem(reused, "bad-request");
    expect((await login(ctx.app, { email: user.email, password: NEW_PASSWORD })).statusCode).toBe(
      200,
    );
  });

  it("refuses an expired link", async () => {
    const user = await register(ctx.app);
    await post("/api/v1/auth/password/forgot", { email: user.email });
    const token = await mailedToken(user.email, "reset-password");
    await ctx.database.bypassTenantIsolation("test: expire the token", (db) =>
      db
        .update(oneTimeTokens)
        .set({ expiresAt: sql`now() - interval '1 second'` })
        .where(eq(oneTimeTokens.userId, user.body.user.id)),
    );
    const response = await post("/api/v1/auth/password/reset", { token, password: NEW_PASSWORD });
    expectProblem(response, "bad-request");
    expect((await login(ctx.app, { email: user.email, password: PASSWORD })).statusCode).toBe(200);
  });

  it("mails one account at most three links an hour, answering 202 each time", async () => {
    const user = await register(ctx.app);
    for (let i = 0; i < 5; i++) {
      expect((await post("/api/v1/auth/password/forgot", { email: user.email })).statusCode).toBe(
        202,
      );
    }
    await mailedToken(user.email, "reset-password", 3);
    await sleep(700);
    const resets = mailsTo(user.email).filter(
      (message) => message.subject === "Reset your password",
    );
    expect(resets).toHaveLength(3);
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

describe("reset links end with the password they were for", () => {
  it("a password change retires every unused reset link", async () => {
    const user = await register(ctx.app);
    await post("/api/v1/auth/password/forgot", { email: user.email });
    const token = await mailedToken(user.email, "reset-password");
    const changed = await post(
      "/api/v1/auth/password/change",
      { currentPassword: PASSWORD, newPassword: "a changed passphrase indeed" },
      user.headers,
    );
    expect(changed.statusCode, changed.body).toBe(204);

    const reset = await post("/api/v1/auth/password/reset", { token, password: NEW_PASSWORD });
    expectProblem(reset, "bad-request");
    expectProblem(
      await login(ctx.app, { email: user.email, password: NEW_PASSWORD }),
      "unauthorized",
    );
    expect(
      (await login(ctx.app, { email: user.email, password: "a changed passphrase indeed" }))
        .statusCode,
    ).toBe(200);
  });

  it("a reset through one link retires the others", async () => {
    const user = await register(ctx.app);
    await post("/api/v1/auth/password/forgot", { email: user.email });
    const token = await mailedToken(user.email, "reset-password");
    // A second live link, as two requests crossing could leave.
    const second = newOpaqueToken();
    await ctx.database.bypassTenantIsolation("test: a second live link", (db) =>
      db.insert(oneTimeTokens).values({
        userId: user.body.user.id,
        purpose: "password-reset",
        tokenHash: hashOpaqueToken(second),
        expiresAt: new Date(Date.now() + 3_600_000),
      }),
    );
    const reset = await post("/api/v1/auth/password/reset", { token, password: NEW_PASSWORD });
    expect(reset.statusCode, reset.body).toBe(204);
    const again = await post("/api/v1/auth/password/reset", {
      token: second,
      password: "yet another passphrase",
    });
    expectProblem(again, "bad-request");
    expect((await login(ctx.app, { email: user.email, password: NEW_PASSWORD })).statusCode).toBe(
      200,
    );
  });

  it("a password too easy to guess answers 422 saying why, and the link still works", async () => {
    const user = await register(ctx.app);
    await post("/api/v1/auth/password/forgot", { email: user.email });
    const token = await mailedToken(user.email, "reset-password");
    const weak = await post("/api/v1/auth/password/reset", { token, password: "P@ssw0rd1234" });
    expect(expectProblem(weak, "validation-failed").errors).toEqual([
      { field: "password", message: expect.stringMatching(/similar to a commonly used password/) },
    ]);
    const reset = await post("/api/v1/auth/password/reset", { token, password: NEW_PASSWORD });
    expect(reset.statusCode, reset.body).toBe(204);
  });
});

describe("security trail of the mailed flows", () => {
  it("records a password reset in the account's tenants, with the sessions it ended", async () => {
    const user = await register(ctx.app);
    await post("/api/v1/auth/password/forgot", { email: user.email });
    const token = await mailedToken(user.email, "reset-password");
    expect(
      (await post("/api/v1/auth/password/reset", { token, password: NEW_PASSWORD })).statusCode,
    ).toBe(204);
    const [row, ...more] = await accountEvents("auth.password_reset", user.body.user.id);
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      tenantId: user.body.tenant.id,
      actorId: user.body.user.id,
      resourceType: "user",
      metadata: { sessionsEnded: 1 },
      ip: expect.any(String),
    });
  });

  it("records an email verification", async () => {
    const user = await register(ctx.app);
    const token = await mailedToken(user.email, "verify-email");
    expect((await post("/api/v1/auth/email/verify", { token })).statusCode).toBe(204);
    const [row, ...more] = await accountEvents("auth.email_verified", user.body.user.id);
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      tenantId: user.body.tenant.id,
      actorId: user.body.user.id,
      resourceType: "user",
    });
    // A refused link records nothing.
    expectProblem(await post("/api/v1/auth/email/verify", { token }), "bad-request");
    expect(await accountEvents("auth.email_verified", user.body.user.id)).toHaveLength(1);
  });
});

describe("cleanup-expired-tokens", () => {
  it("deletes sessions and tokens ended more than a week ago, and keeps the rest", async () => {
    const user = await register(ctx.app);
    const userId = user.body.user.id;
    const tenantId = user.body.tenant.id;
    const long = new Date(Date.now() - 8 * 86_400_000);
    const oldSession = newId();
    const revokedSession = newId();
    await ctx.database.bypassTenantIsolation("test: arrange ended rows", async (db) => {
      await db.insert(sessions).values([
        { id: oldSession, userId, currentTenantId: tenantId, expiresAt: long },
        {
          id: revokedSession,
          userId,
          currentTenantId: tenantId,
          expiresAt: new Date(Date.now() + 86_400_000),
          revokedAt: long,
        },
      ]);
      await db.insert(refreshTokens).values({
        sessionId: oldSession,
        tokenHash: `old-${newId()}`,
        expiresAt: long,
      });
      await db.insert(oneTimeTokens).values({
        userId,
        purpose: "password-reset",
        tokenHash: `old-${newId()}`,
        expiresAt: long,
      });
    });

    const now = new Date();
    for (const cleanup of authCleanups) {
      await ctx.database.bypassTenantIsolation("test: cleanup", (db) => cleanup.run(db, now));
    }

    const left = await ctx.database.bypassTenantIsolation("test: inspect", async (db) => ({
      sessions: await db
        .select({ id: sessions.id })
        .from(sessions)
        .where(eq(sessions.userId, userId)),
      oneTime: await db
        .select({ hash: oneTimeTokens.tokenHash })
        .from(oneTimeTokens)
        .where(eq(oneTimeTokens.userId, userId)),
      user: await db.select({ id: users.id }).from(users).where(eq(users.id, userId)),
    }));
    const sessionIds = left.sessions.map((row) => row.id);
    expect(sessionIds).not.toContain(oldSession);
    expect(sessionIds).not.toContain(revokedSession);
    // The live session of the registration stays, and so does its refresh token.
    expect(sessionIds).toHaveLength(1);
    expect((await refresh(ctx.app, user.refreshToken)).statusCode).toBe(200);
    expect(left.oneTime.every((row) => !row.hash.startsWith("old-"))).toBe(true);
    // The verification token mailed at registration is still unused and unexpired.
    expect(left.oneTime).toHaveLength(1);
    expect(left.user).toHaveLength(1);
  });
});

/** Every key in Redis with its value, whatever its type, as one text to search. */
async function everythingIn(redis: Redis): Promise<string> {
  const lines: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "COUNT", 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      const value =
        type === "string"
          ? await redis.get(key)
          : type === "hash"
            ? await redis.hgetall(key)
            : type === "list"
              ? await redis.lrange(key, 0, -1)
              : type === "set"
                ? await redis.smembers(key)
                : type === "zset"
                  ? await redis.zrange(key, 0, -1)
                  : type === "stream"
                    ? await redis.xrange(key, "-", "+")
                    : null;
      lines.push(`${key} ${JSON.stringify(value)}`);
    }
  } while (cursor !== "0");
  return lines.join("\n");
}

describe("mailed secrets at rest", () => {
  // With Redis and a worker, as in production: the app writes mail jobs to the outbox, a relay
  // moves them to BullMQ, a worker sends them.
  let production: TenancyTestContext;
  beforeAll(async () => {
    production = await setupTenancyTest();
  });
  afterAll(() => production?.close());

  it("leaves no reset, verification or invitation token in clear text in the outbox or Redis", async () => {
    const { app, config, database } = production;
    const background = createBackground(config, app.log);
    const queue = createQueueHarness({
      definitions: background.registry.all(),
      database,
      logger: app.log,
      keyPrefix: config.redisKeyPrefix,
    });
    try {
      const redis = queue.connection();
      const outbox = () =>
        database.bypassTenantIsolation("test inspection", (db) => db.select().from(jobOutbox));

      // Three mails: verification (registration), password reset, invitation.
      const user = await register(app);
      const forgot = await app.inject({
        method: "POST",
        url: "/api/v1/auth/password/forgot",
        remoteAddress: randomAddress(),
        payload: { email: user.email },
      });
      expect(forgot.statusCode).toBe(202);
      const tenant = await production.newTenant("Secrets Inc");
      const roles = await app.inject({ url: "/api/v1/roles", headers: tenant.headers });
      expect(roles.statusCode, roles.body).toBe(200);
      const memberRole = roles
        .json<{ items: { id: string; name: string }[] }>()
        .items.find((role) => role.name === "member");
      const invitee = uniqueEmail();
      const invited = await app.inject({
        method: "POST",
        url: "/api/v1/invitations",
        headers: tenant.headers,
        payload: { email: invitee, roleIds: [memberRole?.id] },
      });
      expect(invited.statusCode, invited.body).toBe(201);

      const rows = await waitFor("three mail jobs in the outbox", async () => {
        const all = await outbox();
        return all.filter((row) => row.jobName === "send-email").length === 3 ? all : undefined;
      });
      const atRest = [`outbox: ${JSON.stringify(rows)}`];

      // Relayed: the rows leave the outbox, the jobs wait in Redis.
      const relay = createOutboxRelay({ database, transport: queue.transport, logger: app.log });
      expect(await relay.relayOnce()).toBeGreaterThanOrEqual(3);
      expect(await outbox()).toEqual([]);
      const queued = await everythingIn(redis);
      // What was read is the jobs themselves (their recipients are readable).
      expect(queued).toContain(invitee);
      atRest.push(`redis, queued: ${queued}`);

      // Sent: a completed mail job leaves Redis at once.
      queue.startWorker({ concurrency: 3 });
      const mails = await waitFor("the three mails", () =>
        background.mailer.outbox.length >= 3 ? background.mailer.outbox : undefined,
      );
      await waitFor("the mail jobs to leave the queue", async () => {
        const counts = await queue.queue.getJobCounts("completed", "active", "waiting");
        return Object.values(counts).every((count) => count === 0);
      });
      const sent = await everythingIn(redis);
      expect(sent).not.toContain(invitee);
      atRest.push(`redis, sent: ${sent}`, `outbox, sent: ${JSON.stringify(await outbox())}`);

      const tokenOf = (to: string, page: string) => {
        const text = mails.find((mail) => mail.to === to && mail.text.includes(page))?.text ?? "";
        const link = text.match(/https?:\/\/\S+/)?.[0] ?? "";
        return new URL(link).searchParams.get("token") ?? "";
      };
      const tokens = {
        reset: tokenOf(user.email, "/reset-password?"),
        verification: tokenOf(user.email, "/verify-email?"),
        invitation: tokenOf(invitee, "/invitations/accept?"),
      };
      for (const [kind, token] of Object.entries(tokens)) {
        expect(token, kind).toMatch(/^[A-Za-z0-9_-]{43}$/);
        for (const snapshot of atRest) {
          expect(snapshot.includes(token), `${kind} token in ${snapshot.slice(0, 20)}`).toBe(false);
        }
      }
      for (const snapshot of atRest) expect(snapshot).not.toContain("token=");
      expect(queued).toMatch(/sealedData[\\":]+v1\./);

      // The mailed token is the real one: it resets the password.
      const reset = await app.inject({
        method: "POST",
        url: "/api/v1/auth/password/reset",
        remoteAddress: randomAddress(),
        payload: { token: tokens.reset, password: NEW_PASSWORD },
      });
      expect(reset.statusCode, reset.body).toBe(204);
    } finally {
      await queue.close();
    }
  });
});
