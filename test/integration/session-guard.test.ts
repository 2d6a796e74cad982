import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createSessionGuard, type SessionGuard } from "../../src/core/auth/index.js";
import { type Database, sessions } from "../../src/core/database/index.js";
import type { Principal } from "../../src/core/http/access.js";
import { createLogger } from "../../src/core/logging/index.js";
import { testConfig } from "../helpers/app.js";
import { setupTenancyTest, type TenancyTestContext } from "../helpers/tenancy.js";

/**
 * The session guard's map against the real database: one check per session at a time, and a
 * busy session's answer renewed in the background before it expires, never reused past it.
 * Revocations over Redis are tested end to end in modules/auth/auth.test.ts.
 */

let ctx: TenancyTestContext;
const guards: SessionGuard[] = [];
const clients: Redis[] = [];

beforeAll(async () => {
  ctx = await setupTenancyTest();
});
afterEach(async () => {
  vi.useRealTimers();
  for (const guard of guards.splice(0)) await guard.close();
  for (const client of clients.splice(0)) client.disconnect();
});
afterAll(async () => {
  await ctx.close();
});

type GuardOptions = Parameters<typeof createSessionGuard>[0];

/**
 * A guard in one process, counting its queries; without Redis unless given, so it hears every
 * revocation. `fail` makes the next ones fail as an unreachable database would.
 */
async function countingGuard(
  options: Pick<GuardOptions, "redis" | "checkTimeoutMs" | "renewSweepMs"> = {
    redis: undefined,
  },
) {
  let checks = 0;
  let answered = 0;
  let failing = false;
  let hanging = false;
  const database: Database = {
    ...ctx.database,
    run: <Row extends Record<string, unknown>>(query: Parameters<Database["run"]>[0]) => {
      checks += 1;
      if (hanging) return new Promise<Row[]>(() => {});
      if (failing) return Promise.reject(new Error("database unreachable"));
      return ctx.database.run<Row>(query).finally(() => {
        answered += 1;
      });
    },
  };
  const guard = await createSessionGuard({
    ...options,
    database,
    channel: `${ctx.config.redisKeyPrefix}session-revocations`,
    logger: createLogger(testConfig()),
  });
  guards.push(guard);
  return {
    guard,
    checks: () => checks,
    /** Queries the database has answered. */
    answered: () => answered,
    fail: () => {
      failing = true;
    },
    hang: (value: boolean) => {
      hanging = value;
    },
  };
}

async function endByHand(principal: Principal) {
  await ctx.database.bypassTenantIsolation("test: end the session by hand", (db) =>
    db.update(sessions).set({ revokedAt: new Date() }).where(eq(sessions.id, principal.sessionId)),
  );
}

async function signedIn(): Promise<Principal> {
  const { userId, tenant, sessionId } = await ctx.newTenant();
  return { userId, tenantId: tenant.id, sessionId };
}

/** Lets the clock the guard reads run `seconds` ahead; timers keep running for real. */
function advanceClock(seconds: number) {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + seconds * 1000);
}

describe("session guard", () => {
  it("shares one database check among a session's requests that arrive while it runs", async () => {
    const { guard, checks } = await countingGuard();
    const principal = await signedIn();
    const answers = Array.from({ length: 5 }, () => guard.access(principal));
    expect(answers[0]).toBeInstanceOf(Promise);
    expect(new Set(answers).size).toBe(1);
    expect((await answers[0])?.permissions.size).toBeGreaterThan(0);
    expect(checks()).toBe(1);
    // Another session of the same user is a check of its own.
    const other = await signedIn();
    await guard.access(other);
    expect(checks()).toBe(2);
  });

  it("sends the requests after a revocation to a check of their own", async () => {
    const { guard, checks } = await countingGuard();
    const principal = await signedIn();
    const before = guard.access(principal);
    // Its query is on its way when the revocation is heard.
    await new Promise((resolve) => setImmediate(resolve));
    await guard.revoke({ sessionId: principal.sessionId });
    const after = guard.access(principal);
    expect(after).not.toBe(before);
    await Promise.all([before, after]);
    expect(checks()).toBe(2);
  });

  it("renews a busy session's answer in the background before it expires", async () => {
    const { guard, checks } = await countingGuard();
    const principal = await signedIn();
    const answer = await guard.access(principal);
    expect(checks()).toBe(1);
    // Within the first 45 seconds the answer is reused as it is.
    advanceClock(30);
    expect(guard.access(principal)).toBe(answer);
    expect(checks()).toBe(1);
    // Past them, a request still gets the held answer at once and starts one renewal.
    advanceClock(16);
    expect(guard.access(principal)).toBe(answer);
    expect(guard.access(principal)).toBe(answer);
    await vi.waitFor(() => expect(guard.access(principal)).not.toBe(answer), { timeout: 5_000 });
    expect(checks()).toBe(2);
    // The renewed answer lives 60 seconds from its check: at 61 seconds after the first one
    // the session is still answered without a promise.
    advanceClock(15);
    const renewed = guard.access(principal);
    expect(renewed).not.toBeInstanceOf(Promise);
    expect((renewed as Awaited<typeof answer>)?.permissions).toEqual(answer?.permissions);
    expect(checks()).toBe(2);
  });

  it("renews a session's answer through a lull without requests, for five minutes after its last", async () => {
    const { guard, checks, answered } = await countingGuard({ redis: undefined, renewSweepMs: 20 });
    const principal = await signedIn();
    const answer = await guard.access(principal);
    expect(checks()).toBe(1);
    // No request for 46 seconds: the sweep renews the answer by itself.
    advanceClock(46);
    await vi.waitFor(() => expect(answered()).toBe(2), { timeout: 5_000 });
    // So the first request after a quiet minute finds a live answer and waits for nothing.
    advanceClock(30);
    const after = guard.access(principal);
    expect(after).not.toBeInstanceOf(Promise);
    expect((after as Awaited<typeof answer>)?.permissions).toEqual(answer?.permissions);
    // That request (76 s) counts as use. Each renewal lives 60 s and is due after 45: a sweep
    // every 50 s renews it again, until five minutes after that request.
    advanceClock(20);
    await vi.waitFor(() => expect(answered()).toBe(3), { timeout: 5_000 });
    for (let expected = 4; expected <= 8; expected++) {
      advanceClock(50);
      await vi.waitFor(() => expect(answered()).toBe(expected), { timeout: 5_000 });
    }
    // 396 s: 320 s after the last request, the answer is left to expire.
    advanceClock(50);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(checks()).toBe(8);
    advanceClock(11);
    const expired = guard.access(principal);
    expect(expired).toBeInstanceOf(Promise);
    await expired;
  });

  it("renews into an ended answer through a lull when the session ended meanwhile", async () => {
    const { guard, checks, answered } = await countingGuard({ redis: undefined, renewSweepMs: 20 });
    const principal = await signedIn();
    await guard.access(principal);
    await endByHand(principal);
    advanceClock(46);
    await vi.waitFor(() => expect(answered()).toBe(2), { timeout: 5_000 });
    await vi.waitFor(() => expect(guard.access(principal)).toBeUndefined(), { timeout: 5_000 });
    expect(checks()).toBe(2);
  });

  it("never reuses an answer past 60 seconds, busy or not", async () => {
    const { guard, checks } = await countingGuard();
    const principal = await signedIn();
    await guard.access(principal);
    advanceClock(61);
    const later = guard.access(principal);
    expect(later).toBeInstanceOf(Promise);
    await later;
    expect(checks()).toBe(2);
  });

  it("renews into an ended answer when the session ended meanwhile", async () => {
    const { guard } = await countingGuard();
    const principal = await signedIn();
    await guard.access(principal);
    // Ended in the database without a revocation (by hand): the renewal finds out.
    await endByHand(principal);
    advanceClock(46);
    expect(guard.access(principal)).toBeDefined();
    await vi.waitFor(() => expect(guard.access(principal)).toBeUndefined(), { timeout: 5_000 });
  });

  it("lets each request ask alone while it cannot hear revocations", async () => {
    // A Redis that never answers: the guard's subscription is down from the start.
    const unreachable = new Redis("redis://127.0.0.1:1", {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    clients.push(unreachable);
    const { guard, checks } = await countingGuard({ redis: unreachable });
    const principal = await signedIn();
    const first = guard.access(principal);
    // Once the first check's query is on its way, a second request does not wait for it.
    await new Promise((resolve) => setImmediate(resolve));
    const second = guard.access(principal);
    expect(second).not.toBe(first);
    await Promise.all([first, second]);
    expect(await guard.access(principal)).toBeDefined();
    expect(checks()).toBe(3);
  });

  it("checks the sessions asked for in one turn with one query, each answered for itself", async () => {
    const { guard, checks } = await countingGuard();
    const principals = [await signedIn(), await signedIn(), await signedIn()];
    await endByHand(principals[1] as Principal);
    const withoutTenant = { ...(principals[2] as Principal), tenantId: null };
    const answers = await Promise.all([...principals, withoutTenant].map((p) => guard.access(p)));
    expect(checks()).toBe(1);
    expect(answers[0]?.permissions.size).toBeGreaterThan(0);
    expect(answers[1]).toBeUndefined();
    expect(answers[2]?.permissions.size).toBeGreaterThan(0);
    // A session without a tenant is live and granted nothing.
    expect(answers[3]?.grants).toEqual([]);
  });

  it("sends more than 500 checks of one turn in several queries, each answered", async () => {
    const { guard, checks } = await countingGuard();
    const live = await signedIn();
    // 500 sessions that do not exist (ended), then a live one: it lands in the second query.
    const unknown = Array.from({ length: 500 }, () => ({ ...live, sessionId: randomUUID() }));
    const answers = await Promise.all([...unknown, live].map((p) => guard.access(p)));
    expect(checks()).toBe(2);
    expect(answers.slice(0, 500).every((answer) => answer === undefined)).toBe(true);
    expect(answers[500]?.permissions.size).toBeGreaterThan(0);
  });

  it("fails a check the database does not answer in time, and shares it no further", async () => {
    const { guard, checks, hang } = await countingGuard({ redis: undefined, checkTimeoutMs: 200 });
    const principal = await signedIn();
    hang(true);
    const first = guard.access(principal);
    await expect(first).rejects.toThrow("the session check took longer than 200 ms");
    hang(false);
    // The stuck query still holds its connection; the next request asks again and is answered.
    expect((await guard.access(principal))?.permissions.size).toBeGreaterThan(0);
    expect(checks()).toBe(2);
  });

  it("fails every check of a query the database cannot answer, and keeps no answer", async () => {
    const { guard, fail } = await countingGuard();
    const principals = [await signedIn(), await signedIn()];
    fail();
    const answers = principals.map((p) => guard.access(p));
    for (const answer of answers) await expect(answer).rejects.toThrow("database unreachable");
    expect(guard.access(principals[0] as Principal)).toBeInstanceOf(Promise);
  });
});
