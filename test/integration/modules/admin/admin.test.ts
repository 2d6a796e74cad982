import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { users } from "../../../../src/core/database/index.js";
import { TEST_REDIS_URL } from "../../../helpers/app.js";
import { createSignedInMember } from "../../../helpers/identity.js";
import { expectProblem } from "../../../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext } from "../../../helpers/tenancy.js";

/**
 * Platform administration: every tenant, suspension and reactivation, each call audited; and
 * who is a platform admin, changed by `npm run platform-admin`.
 */

let ctx: TenancyTestContext;
beforeAll(async () => {
  ctx = await setupTenancyTest();
});
afterAll(() => ctx?.close());

async function platformAdmin() {
  const home = await ctx.newTenant("Platform HQ");
  await ctx.database.bypassTenantIsolation("test: make a platform admin", (db) =>
    db.update(users).set({ isPlatformAdmin: true }).where(eq(users.id, home.userId)),
  );
  return home;
}

describe("platform administration", () => {
  it("suspends a tenant, whose members then get 403, and reactivates it", async () => {
    const admin = await platformAdmin();
    const customer = await ctx.newTenant("Customer");
    const member = await createSignedInMember(ctx.database, customer.tenant.id, { role: "member" });
    const memberToken = await ctx.tokens.signAccessToken({
      sub: member.userId,
      tid: customer.tenant.id,
      sid: member.sessionId,
    });
    const notes = () =>
      ctx.app.inject({
        url: "/api/v1/notes",
        headers: { authorization: `Bearer ${memberToken}` },
      });
    expect((await notes()).statusCode).toBe(200);

    const suspend = await ctx.app.inject({
      method: "PATCH",
      url: `/api/v1/admin/tenants/${customer.tenant.id}`,
      headers: admin.headers,
      payload: { status: "suspended" },
    });
    expect(suspend.statusCode, suspend.body).toBe(200);
    expect(suspend.json()).toMatchObject({ id: customer.tenant.id, status: "suspended" });
    expect(expectProblem(await notes(), "forbidden").detail).toMatch(/suspended/);

    const reactivate = await ctx.app.inject({
      method: "PATCH",
      url: `/api/v1/admin/tenants/${customer.tenant.id}`,
      headers: admin.headers,
      payload: { status: "active" },
    });
    expect(reactivate.statusCode).toBe(200);
    expect((await notes()).statusCode).toBe(200);

    // Both changes are in the customer's audit log, with the administrator as actor.
    const log = await ctx.app.inject({
      url: "/api/v1/audit-logs?resourceType=tenant",
      headers: customer.headers,
    });
    const actions = log
      .json<{ items: { action: string; actor: { id: string } | null }[] }>()
      .items.filter((entry) => entry.action.startsWith("platform_admin."));
    expect(actions.map((entry) => entry.action)).toEqual([
      "platform_admin.tenant_reactivated",
      "platform_admin.tenant_suspended",
    ]);
    expect(actions.every((entry) => entry.actor?.id === admin.userId)).toBe(true);
  });

  it("lists every tenant, a page at a time; 404 for an unknown one; 422 for a bad status", async () => {
    const admin = await platformAdmin();
    await ctx.newTenant();
    const first = await ctx.app.inject({
      url: "/api/v1/admin/tenants?limit=1",
      headers: admin.headers,
    });
    expect(first.statusCode, first.body).toBe(200);
    const page = first.json<{ items: { id: string }[]; nextCursor: string }>();
    expect(page.items).toHaveLength(1);
    const next = await ctx.app.inject({
      url: `/api/v1/admin/tenants?limit=100&cursor=${page.nextCursor}`,
      headers: admin.headers,
    });
    expect(next.json().items.length).toBeGreaterThanOrEqual(1);
    expectProblem(
      await ctx.app.inject({
        method: "PATCH",
        url: "/api/v1/admin/tenants/0190a0a0-0000-7000-8000-000000000000",
        headers: admin.headers,
        payload: { status: "suspended" },
      }),
      "not-found",
    );
    expectProblem(
      await ctx.app.inject({
        method: "PATCH",
        url: `/api/v1/admin/tenants/${admin.tenant.id}`,
        headers: admin.headers,
        payload: { status: "deleted" },
      }),
      "validation-failed",
    );
  });

  it("refuses everyone else with 403, the tenant's owner included", async () => {
    const owner = await ctx.newTenant();
    const response = await ctx.app.inject({
      method: "PATCH",
      url: `/api/v1/admin/tenants/${owner.tenant.id}`,
      headers: owner.headers,
      payload: { status: "suspended" },
    });
    expectProblem(response, "forbidden");
    expectProblem(
      await ctx.app.inject({ url: "/api/v1/admin/tenants", headers: owner.headers }),
      "forbidden",
    );
  });
});

describe("granting and revoking platform administration", () => {
  const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url));
  const run = promisify(execFile);

  /** `npm run platform-admin -- <args>`, against this test's database and Redis keys. */
  const platformAdminCommand = (...args: string[]) =>
    run(process.execPath, ["--import", "tsx", "scripts/platform-admin.ts", ...args], {
      cwd: repoRoot,
      env: {
        ...process.env,
        ENVIRONMENT: "test",
        LOG_LEVEL: "warn",
        DATABASE_URL: ctx.testDatabase.url,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: ctx.config.redisKeyPrefix,
      },
    });

  const emailOf = async (userId: string) => {
    const [row] = await ctx.database.bypassTenantIsolation("test: email", (db) =>
      db.select({ email: users.email }).from(users).where(eq(users.id, userId)),
    );
    return row?.email as string;
  };

  const listTenants = (headers: { authorization: string }) =>
    ctx.app.inject({ url: "/api/v1/admin/tenants", headers });

  it("refuses a platform admin whose flag was cleared in SQL on their very next request", async () => {
    const admin = await platformAdmin();
    // The API has just confirmed the admin, and would have kept that answer for a minute.
    expect((await listTenants(admin.headers)).statusCode).toBe(200);
    await ctx.database.bypassTenantIsolation("test: revoke by hand", (db) =>
      db.update(users).set({ isPlatformAdmin: false }).where(eq(users.id, admin.userId)),
    );
    expectProblem(await listTenants(admin.headers), "forbidden");
  });

  it("grants and revokes with the command, which every API process hears at once", async () => {
    const user = await ctx.newTenant();
    const email = await emailOf(user.userId);
    // The API now holds this user's "not an admin" answer.
    expectProblem(await listTenants(user.headers), "forbidden");

    const granted = await platformAdminCommand("grant", email.toUpperCase());
    expect(granted.stdout).toContain(`${email} is now a platform admin`);
    expect((await listTenants(user.headers)).statusCode).toBe(200);
    expect((await platformAdminCommand("list")).stdout).toContain(email);

    const revoked = await platformAdminCommand("revoke", email);
    expect(revoked.stdout).toContain(`${email} is no longer a platform admin`);
    expectProblem(await listTenants(user.headers), "forbidden");
    expect((await platformAdminCommand("list")).stdout).not.toContain(email);
  });

  it("says so, and changes nothing, for an unknown email or a bad command", async () => {
    const failure = (promise: Promise<unknown>) =>
      promise.then(
        () => {
          throw new Error("the command succeeded");
        },
        (error: { code: number; stderr: string }) => error,
      );
    const unknown = await failure(platformAdminCommand("grant", "nobody@example.test"));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("No user has the email nobody@example.test");
    const bad = await failure(platformAdminCommand("promote", "someone@example.test"));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/usage/i);
  });
});
