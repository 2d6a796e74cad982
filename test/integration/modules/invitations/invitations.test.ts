import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { users } from "../../../../src/core/database/index.js";
import { jobOutbox } from "../../../../src/core/jobs/outbox.table.js";
import { invitationsCleanups } from "../../../../src/modules/invitations/index.js";
import { invitations } from "../../../../src/modules/invitations/invitations.table.js";
import { register, type SignedInUser, switchTenant, uniqueEmail } from "../../../helpers/auth.js";
import { createSignedInMember, markEmailVerified } from "../../../helpers/identity.js";
import { waitFor } from "../../../helpers/jobs.js";
import { expectProblem } from "../../../helpers/problems.js";
import {
  setupTenancyTest,
  type TenancyTestContext,
  type TestTenant,
} from "../../../helpers/tenancy.js";

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

async function roleId(tenant: TestTenant, name: string, context = ctx) {
  const roles = await context.app.inject({ url: "/api/v1/roles", headers: tenant.headers });
  return roles.json<{ items: { id: string; name: string }[] }>().items.find((r) => r.name === name)
    ?.id as string;
}

/** Invites `email` to `tenant` with one of its roles, as the owner or as the caller of `headers`. */
async function invite(
  tenant: TestTenant,
  email: string,
  role = "member",
  headers = tenant.headers,
) {
  const response = await ctx.app.inject({
    method: "POST",
    url: "/api/v1/invitations",
    headers,
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
      url: "/api/v1/notes",
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

/** A member of `tenant` holding `role`, with a token for it. */
async function memberOf(
  tenant: TestTenant,
  role: "admin" | "member" | "viewer" = "admin",
  context = ctx,
) {
  const member = await createSignedInMember(context.database, tenant.tenant.id, { role });
  const token = await context.tokens.signAccessToken({
    sub: member.userId,
    tid: tenant.tenant.id,
    sid: member.sessionId,
  });
  return { ...member, headers: { authorization: `Bearer ${token}` } };
}

async function pendingIds(tenant: TestTenant) {
  const listed = await ctx.app.inject({ url: "/api/v1/invitations", headers: tenant.headers });
  expect(listed.statusCode, listed.body).toBe(200);
  return listed.json<{ items: { id: string }[] }>().items.map((each) => each.id);
}

describe("the inviter, at acceptance", () => {
  it("must still hold members:invite and every permission granted, else 403 and the invitation is revoked", async () => {
    const tenant = await ctx.newTenant();
    // What the viewer role grants, whichever modules give it something: the recruiter invites
    // with it, so must hold all of it.
    const viewerGrants = (await ctx.app.inject({ url: "/api/v1/roles", headers: tenant.headers }))
      .json<{ items: { name: string; permissions: string[] }[] }>()
      .items.find((role) => role.name === "viewer")?.permissions as string[];
    expect(viewerGrants).toEqual(expect.arrayContaining(["members:read", "notes:read"]));
    const created = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/roles",
      headers: tenant.headers,
      payload: { name: "Recruiters", permissions: ["members:invite", ...viewerGrants] },
    });
    expect(created.statusCode, created.body).toBe(201);
    const recruiters = created.json<{ id: string }>().id;
    const recruiter = await memberOf(tenant, "viewer");
    const assigned = await ctx.app.inject({
      method: "PUT",
      url: `/api/v1/members/${recruiter.userId}/roles`,
      headers: tenant.headers,
      payload: { roleIds: [recruiters] },
    });
    expect(assigned.statusCode, assigned.body).toBe(200);
    const firstEmail = uniqueEmail();
    const secondEmail = uniqueEmail();
    const first = await invite(tenant, firstEmail, "viewer", recruiter.headers);
    const second = await invite(tenant, secondEmail, "viewer", recruiter.headers);

    const setPermissions = async (permissions: string[]) => {
      const changed = await ctx.app.inject({
        method: "PATCH",
        url: `/api/v1/roles/${recruiters}`,
        headers: tenant.headers,
        payload: { permissions },
      });
      expect(changed.statusCode, changed.body).toBe(200);
    };

    // Still inviting, but no longer holding members:read, which the viewer role grants.
    await setPermissions([
      "members:invite",
      ...viewerGrants.filter((permission) => permission !== "members:read"),
    ]);
    const firstInvitee = await verifiedUser(firstEmail);
    const refused = expectProblem(await accept(firstInvitee, first.token), "forbidden");
    expect(refused.detail).toMatch(/no longer/);
    expect(refused.detail).toMatch(/revoked/);
    expectProblem(await accept(firstInvitee, first.token), "bad-request");
    expect(await pendingIds(tenant)).not.toContain(first.id);

    // Holding what the viewer role grants, but no longer members:invite.
    await setPermissions(viewerGrants);
    const secondInvitee = await verifiedUser(secondEmail);
    expectProblem(await accept(secondInvitee, second.token), "forbidden");
    expectProblem(await accept(secondInvitee, second.token), "bad-request");
    const rows = await ctx.database.bypassTenantIsolation("test: inspect", (db) =>
      db.select().from(invitations).where(eq(invitations.tenantId, tenant.tenant.id)),
    );
    expect(rows.map((row) => [row.email, row.acceptedAt, row.revokedAt !== null]).sort()).toEqual(
      [
        [firstEmail, null, true],
        [secondEmail, null, true],
      ].sort(),
    );
  });

  it("must still be an active user", async () => {
    const tenant = await ctx.newTenant();
    const admin = await memberOf(tenant, "admin");
    const email = uniqueEmail();
    const invitation = await invite(tenant, email, "member", admin.headers);
    await ctx.database.bypassTenantIsolation("test: deactivate the inviter", (db) =>
      db.update(users).set({ isActive: false }).where(eq(users.id, admin.userId)),
    );
    const invitee = await verifiedUser(email);
    expectProblem(await accept(invitee, invitation.token), "forbidden");
    expectProblem(await accept(invitee, invitation.token), "bad-request");
  });
});

describe("inviting an address again", () => {
  it("replaces its pending invitation: the earlier link stops working", async () => {
    const tenant = await ctx.newTenant();
    const email = uniqueEmail();
    const first = await invite(tenant, email);
    const second = await invite(tenant, email.toUpperCase(), "viewer");
    expect(await pendingIds(tenant)).toEqual([second.id]);
    const invitee = await verifiedUser(email);
    expectProblem(await accept(invitee, first.token), "bad-request");
    const accepted = await accept(invitee, second.token);
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(accepted.json().roles).toEqual([expect.objectContaining({ name: "viewer" })]);
  });

  it("leaves one pending invitation however many are made at once", async () => {
    const tenant = await ctx.newTenant();
    const email = uniqueEmail();
    const viewer = await roleId(tenant, "viewer");
    const responses = await Promise.all(
      Array.from({ length: 6 }, () =>
        ctx.app.inject({
          method: "POST",
          url: "/api/v1/invitations",
          headers: tenant.headers,
          payload: { email, roleIds: [viewer] },
        }),
      ),
    );
    for (const response of responses) expect(response.statusCode, response.body).toBe(201);
    const pending = await pendingIds(tenant);
    expect(pending).toHaveLength(1);
    const last = responses.find((response) => response.json().id === pending[0]);
    expect((await accept(await verifiedUser(email), last?.json().token)).statusCode).toBe(200);
  });
});

describe("who may invite", () => {
  it("a member whose email is not verified gets 403 and nothing is sent", async () => {
    const owner = await register(ctx.app);
    const roles = await ctx.app.inject({ url: "/api/v1/roles", headers: owner.headers });
    const viewer = roles
      .json<{ items: { id: string; name: string }[] }>()
      .items.find((role) => role.name === "viewer")?.id;
    const email = uniqueEmail();
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/invitations",
      headers: owner.headers,
      payload: { email, roleIds: [viewer] },
    });
    expect(expectProblem(response, "forbidden").detail).toMatch(/verify your email/i);
    const listed = await ctx.app.inject({ url: "/api/v1/invitations", headers: owner.headers });
    expect(listed.json().items).toEqual([]);

    await markEmailVerified(ctx.database, owner.body.user.id);
    const again = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/invitations",
      headers: owner.headers,
      payload: { email, roleIds: [viewer] },
    });
    expect(again.statusCode, again.body).toBe(201);
  });
});

describe("invitation limits", () => {
  let limited: TenancyTestContext;
  beforeAll(async () => {
    limited = await setupTenancyTest({
      INVITATION_LIMIT_PER_INVITER: "2",
      INVITATION_LIMIT_PER_TENANT: "3",
    });
  });
  afterAll(() => limited?.close());

  const inviteIn = async (headers: { authorization: string }, roleIds: string[]) =>
    limited.app.inject({
      method: "POST",
      url: "/api/v1/invitations",
      headers,
      payload: { email: uniqueEmail(), roleIds },
    });

  it("counts per inviter an hour and per tenant a day, answering 429 with Retry-After", async () => {
    const tenant = await limited.newTenant();
    const viewer = await roleId(tenant, "viewer", limited);

    // A refused invitation does not count.
    expectProblem(await inviteIn(tenant.headers, [randomUUID()]), "validation-failed");
    expect((await inviteIn(tenant.headers, [viewer])).statusCode).toBe(201);
    expect((await inviteIn(tenant.headers, [viewer])).statusCode).toBe(201);
    const perInviter = await inviteIn(tenant.headers, [viewer]);
    expectProblem(perInviter, "rate-limited");
    const hour = Number(perInviter.headers["retry-after"]);
    expect(hour).toBeGreaterThan(3500);
    expect(hour).toBeLessThanOrEqual(3600);

    const adminHeaders = (await memberOf(tenant, "admin", limited)).headers;
    expect((await inviteIn(adminHeaders, [viewer])).statusCode).toBe(201);
    const perTenant = await inviteIn(adminHeaders, [viewer]);
    expectProblem(perTenant, "rate-limited");
    const day = Number(perTenant.headers["retry-after"]);
    expect(day).toBeGreaterThan(86_000);
    expect(day).toBeLessThanOrEqual(86_400);

    const pending = await limited.app.inject({
      url: "/api/v1/invitations",
      headers: tenant.headers,
    });
    expect(pending.json().items).toHaveLength(3);
    // Another tenant is not affected.
    const other = await limited.newTenant();
    const otherViewer = await roleId(other, "viewer", limited);
    expect((await inviteIn(other.headers, [otherViewer])).statusCode).toBe(201);
  });
});

describe("invitation limits while Redis is unreachable", () => {
  let offline: TenancyTestContext;
  beforeAll(async () => {
    offline = await setupTenancyTest({
      // Nothing listens on port 1: every Redis command fails at once, as in an outage.
      REDIS_URL: "redis://127.0.0.1:1",
      INVITATION_LIMIT_PER_INVITER: "2",
      INVITATION_LIMIT_PER_TENANT: "3",
    });
  });
  afterAll(() => offline?.close());

  it("counts the invitations table instead, and the mails wait in the outbox", async () => {
    const tenant = await offline.newTenant();
    const viewer = await roleId(tenant, "viewer", offline);
    const inviteAs = (headers: { authorization: string }) =>
      offline.app.inject({
        method: "POST",
        url: "/api/v1/invitations",
        headers,
        payload: { email: uniqueEmail(), roleIds: [viewer] },
      });

    expect((await inviteAs(tenant.headers)).statusCode).toBe(201);
    expect((await inviteAs(tenant.headers)).statusCode).toBe(201);
    const perInviter = await inviteAs(tenant.headers);
    expectProblem(perInviter, "rate-limited");
    expect(Number(perInviter.headers["retry-after"])).toBe(3600);

    const adminHeaders = (await memberOf(tenant, "admin", offline)).headers;
    expect((await inviteAs(adminHeaders)).statusCode).toBe(201);
    const perTenant = await inviteAs(adminHeaders);
    expectProblem(perTenant, "rate-limited");
    expect(Number(perTenant.headers["retry-after"])).toBe(86_400);

    // Each invitation made left its mail in the outbox (this test's own database), for the relay
    // once Redis is back; the refused ones left none.
    const waiting = await offline.database.bypassTenantIsolation("test: outbox", async (db) => {
      const rows = await db
        .select({ id: jobOutbox.id })
        .from(jobOutbox)
        .where(eq(jobOutbox.jobName, "send-email"));
      return rows.length;
    });
    expect(waiting).toBe(3);
  });
});
