import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId, sessions, users } from "../../src/core/database/index.js";
import { authCleanups } from "../../src/modules/auth/index.js";
import { oneTimeTokens } from "../../src/modules/auth/one-time-tokens.table.js";
import { refreshTokens } from "../../src/modules/auth/refresh-tokens.table.js";
import {
  login,
  PASSWORD,
  randomAddress,
  refresh,
  register,
  signInAgain,
  uniqueEmail,
} from "../helpers/auth.js";
import { sleep, waitFor } from "../helpers/jobs.js";
import { expectProblem } from "../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext } from "../helpers/tenancy.js";

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
