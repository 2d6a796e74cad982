import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { invitationsCleanups } from "../../src/modules/invitations/index.js";
import { invitations } from "../../src/modules/invitations/invitations.table.js";
import { register, type SignedInUser, switchTenant, uniqueEmail } from "../helpers/auth.js";
import { createSignedInMember, markEmailVerified } from "../helpers/identity.js";
import { waitFor } from "../helpers/jobs.js";
import { expectProblem } from "../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext, type TestTenant } from "../helpers/tenancy.js";

/**
 * Invitations end to end: created by a member who may invite, mailed (jobs run in the process
 * here, and the app keeps the messages), accepted once by the signed-in user whose verified
 * email matches, within 7 days.
 */

let ctx: TenancyTestContext;
beforeAll(async () => {
  ctx = await setupTenancyTest({ REDIS_URL: "" });
});
afterAll(() => ctx?.close());

async function roleId(tenant: TestTenant, name: string) {
  const roles = await ctx.app.inject({ url: "/api/v1/roles", headers: tenant.headers });
  return roles.json<{ items: { id: string; name: string }[] }>().items.find((r) => r.name === name)
    ?.id as string;
}

async function invite(tenant: TestTenant, email: string, role = "member") {
  const response = await ctx.app.inject({
    method: "POST",
    url: "/api/v1/invitations",
    headers: tenant.headers,
    payload: { email, roleIds: [await roleId(tenant, role)] },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ id: string; token: string; expiresAt: string; email: string }>();
}

/** A registered user whose email is verified. */
async function verifiedUser(email = uniqueEmail()): Promise<SignedInUser> {
  const user = await register(ctx.app, { email });
  await markEmailVerified(ctx.database, user.body.user.id);
  return user;
}

const accept = (user: SignedInUser, token: string) =>
  ctx.app.inject({
    method: "POST",
    url: "/api/v1/invitations/accept",
    headers: user.headers,
    payload: { token },
  });

describe("invitations", () => {
  it("mails a link; the invitee accepts once and can switch to the tenant with the roles", async () => {
    const tenant = await ctx.newTenant("Inviting Co");
    const email = uniqueEmail();
    const invitation = await invite(tenant, email);
    expect(invitation.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Date(invitation.expiresAt).getTime() - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    const mail = await waitFor("the invitation email", () =>
      ctx.app.mailer.outbox.find((message) => message.to === email),
    );
    expect(mail.text).toContain(
      `${ctx.config.frontendUrl}/invitations/accept?token=${invitation.token}`,
    );
    expect(mail.subject).toContain("Inviting Co");

    const invitee = await verifiedUser(email);
    const accepted = await accept(invitee, invitation.token);
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(accepted.json()).toMatchObject({
      tenant: { id: tenant.tenant.id, name: "Inviting Co" },
      roles: [{ name: "member" }],
    });
    const switched = await switchTenant(ctx.app, invitee, tenant.tenant.id);
    expect(switched.statusCode, switched.body).toBe(200);
    const created = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/items",
      headers: { authorization: `Bearer ${switched.json().accessToken}` },
      payload: { name: "from the invitee" },
    });
    expect(created.statusCode).toBe(201);

    // Single use, and no longer pending.
    expectProblem(await accept(invitee, invitation.token), "bad-request");
    const pending = await ctx.app.inject({ url: "/api/v1/invitations", headers: tenant.headers });
    expect(pending.json().items.map((each: { id: string }) => each.id)).not.toContain(
      invitation.id,
    );
  });

  it("refuses another user's email, leaving the invitation usable", async () => {
    const tenant = await ctx.newTenant();
    const email = uniqueEmail();
    const invitation = await invite(tenant, email);
    const stranger = await verifiedUser();
    expectProblem(await accept(stranger, invitation.token), "forbidden");
    const invitee = await verifiedUser(email.toUpperCase());
    expect((await accept(invitee, invitation.token)).statusCode).toBe(200);
  });

  it("refuses an unverified email", async () => {
    const tenant = await ctx.newTenant();
    const email = uniqueEmail();
    const invitation = await invite(tenant, email);
    const unverified = await register(ctx.app, { email });
    const response = await accept(unverified, invitation.token);
    expect(expectProblem(response, "forbidden").detail).toMatch(/verify/i);
  });

  it("refuses an expired or revoked invitation", async () => {
    const tenant = await ctx.newTenant();
    const expiredEmail = uniqueEmail();
    const expired = await invite(tenant, expiredEmail);
    await ctx.database.bypassTenantIsolation("test: expire", (db) =>
      db
        .update(invitations)
        .set({ expiresAt: sql`now() - interval '1 second'` })
        .where(eq(invitations.id, expired.id)),
    );
    expectProblem(await accept(await verifiedUser(expiredEmail), expired.token), "bad-request");
    const listed = await ctx.app.inject({ url: "/api/v1/invitations", headers: tenant.headers });
    expect(listed.json().items.map((each: { id: string }) => each.id)).not.toContain(expired.id);

    const revokedEmail = uniqueEmail();
    const revoked = await invite(tenant, revokedEmail);
    const deletion = await ctx.app.inject({
      method: "DELETE",
      url: `/api/v1/invitations/${revoked.id}`,
      headers: tenant.headers,
    });
    expect(deletion.statusCode).toBe(204);
    expectProblem(await accept(await verifiedUser(revokedEmail), revoked.token), "bad-request");
    expectProblem(
      await ctx.app.inject({
        method: "DELETE",
        url: `/api/v1/invitations/${revoked.id}`,
        headers: tenant.headers,
      }),
      "not-found",
    );
  });

  it("refuses to invite a member, a role of another tenant, or a role the inviter could not grant", async () => {
    const tenant = await ctx.newTenant();
    const member = await verifiedUser();
    const other = await ctx.newTenant();
    const invitation = await invite(tenant, member.email);
    expect((await accept(member, invitation.token)).statusCode).toBe(200);
    const again = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/invitations",
      headers: tenant.headers,
      payload: { email: member.email, roleIds: [await roleId(tenant, "viewer")] },
    });
    expectProblem(again, "conflict");
    const foreign = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/invitations",
      headers: tenant.headers,
      payload: { email: uniqueEmail(), roleIds: [await roleId(other, "viewer")] },
    });
    expectProblem(foreign, "validation-failed");

    const admin = await createSignedInMember(ctx.database, tenant.tenant.id, { role: "admin" });
    const adminToken = await ctx.tokens.signAccessToken({
      sub: admin.userId,
      tid: tenant.tenant.id,
      sid: admin.sessionId,
    });
    const asOwner = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/invitations",
      headers: { authorization: `Bearer ${adminToken}` },
      payload: { email: uniqueEmail(), roleIds: [await roleId(tenant, "owner")] },
    });
    expectProblem(asOwner, "forbidden");
  });

  it("refuses to join a suspended tenant, and the daily cleanup deletes ended invitations", async () => {
    const tenant = await ctx.newTenant();
    const email = uniqueEmail();
    const invitation = await invite(tenant, email);
    await ctx.database.bypassTenantIsolation("test: suspend", (db) =>
      db.execute(sql`update tenants set status = 'suspended' where id = ${tenant.tenant.id}`),
    );
    const response = await accept(await verifiedUser(email), invitation.token);
    expect(expectProblem(response, "forbidden").detail).toMatch(/suspended/);

    await ctx.database.bypassTenantIsolation("test: end long ago", (db) =>
      db
        .update(invitations)
        .set({ expiresAt: sql`now() - interval '31 days'` })
        .where(eq(invitations.id, invitation.id)),
    );
    for (const cleanup of invitationsCleanups) {
      await ctx.database.bypassTenantIsolation("test: cleanup", (db) =>
        cleanup.run(db, new Date()),
      );
    }
    const left = await ctx.database.bypassTenantIsolation("test: inspect", (db) =>
      db.select().from(invitations).where(eq(invitations.id, invitation.id)),
    );
    expect(left).toEqual([]);
  });
});
