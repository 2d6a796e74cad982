import { randomUUID } from "node:crypto";
import { count, eq } from "drizzle-orm";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memberships, sessions, tenants } from "../../../../src/core/database/index.js";
import {
  FROM_THE_APP,
  login,
  PASSWORD,
  refresh,
  refreshCookieOf,
  register,
  type SignedInUser,
  signedInFrom,
  switchTenant,
} from "../../../helpers/auth.js";
import { bearerFor, createMember, createSession, createUser } from "../../../helpers/factories.js";
import { markEmailVerified } from "../../../helpers/identity.js";
import { expectProblem } from "../../../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext } from "../../../helpers/tenancy.js";

/**
 * Creating a tenant (POST /tenants), and a user with no active tenant: a sole owner who deleted
 * their tenant, or a member removed from their last one, still signs in, with a token carrying
 * no tenant that only the routes about their own account and about getting into a tenant
 * accept, and finds a way back in by creating a tenant or accepting an invitation.
 */

/** Tenants one user may create a day in this file (TENANT_CREATION_LIMIT_PER_USER). */
const CREATIONS_PER_DAY = 3;

let ctx: TenancyTestContext;
beforeAll(async () => {
  ctx = await setupTenancyTest({
    TENANT_CREATION_LIMIT_PER_USER: String(CREATIONS_PER_DAY),
    // Many requests from one test client: the per-IP limit is not what is tested here.
    RATE_LIMIT_IP: "1000000",
  });
});
afterAll(() => ctx?.close());

const NO_ACTIVE_TENANT = /no active tenant/i;

interface Caller {
  readonly headers: { authorization: string };
}

interface TenantBody {
  id: string;
  name: string;
  slug: string;
  plan: string;
  createdAt: string;
}

const bearer = (accessToken: string) => ({ authorization: `Bearer ${accessToken}` });

function send(
  caller: Caller,
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
  url: string,
  payload?: Record<string, unknown>,
): Promise<LightMyRequestResponse> {
  return ctx.app.inject({
    method,
    url,
    headers: caller.headers,
    ...(payload ? { payload } : {}),
  });
}

const createTenant = (caller: Caller, payload: Record<string, unknown>) =>
  send(caller, "POST", "/api/v1/tenants", payload);

const uniqueName = (prefix: string) => `${prefix} ${randomUUID().slice(0, 8)}`;

/**
 * A user with a live session and no tenant, and a token without one, arranged in the database
 * (as after their last tenant was deleted).
 */
async function signedInWithoutTenant() {
  const user = await createUser(ctx.database, { name: "Without Tenant" });
  const session = await createSession(ctx.database, user.id, { tenantId: null });
  const headers = await bearerFor(ctx.tokens, session);
  return { userId: user.id, sessionId: session.id, email: user.email, headers };
}

function tenantCount(): Promise<number> {
  return ctx.database.bypassTenantIsolation("test: count tenants", async (db) => {
    const [row] = await db.select({ n: count() }).from(tenants);
    return Number(row?.n);
  });
}

function membershipsOf(userId: string) {
  return ctx.database.bypassTenantIsolation("test: a user's memberships", (db) =>
    db.select().from(memberships).where(eq(memberships.userId, userId)),
  );
}

function sessionRow(id: string) {
  return ctx.database.bypassTenantIsolation("test: inspect a session", async (db) => {
    const [row] = await db.select().from(sessions).where(eq(sessions.id, id));
    return row;
  });
}

/** The default roles as GET /roles shows them, without ids. */
async function rolesOf(caller: Caller) {
  const response = await send(caller, "GET", "/api/v1/roles?limit=100");
  expect(response.statusCode, response.body).toBe(200);
  return response
    .json<{
      items: { name: string; description: string; permissions: string[]; system: boolean }[];
    }>()
    .items.map(({ name, description, permissions, system }) => ({
      name,
      description,
      permissions: [...permissions].sort(),
      system,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

describe("a sole owner who deletes their only tenant", () => {
  let owner: SignedInUser;

  beforeAll(async () => {
    owner = await register(ctx.app);
    const deleted = await send(owner, "DELETE", "/api/v1/tenants/current");
    expect(deleted.statusCode, deleted.body).toBe(204);
  });

  it("signs in again, with a token and a tenant of null", async () => {
    const response = await login(ctx.app, { email: owner.email, password: PASSWORD });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json();
    expect(body).toEqual({
      accessToken: expect.any(String),
      tokenType: "Bearer",
      expiresIn: 900,
      user: owner.body.user,
      tenant: null,
    });
    expect(refreshCookieOf(response)?.value).toBeTruthy();

    const me = await send({ headers: bearer(body.accessToken) }, "GET", "/api/v1/auth/me");
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json()).toMatchObject({
      user: { id: owner.body.user.id, email: owner.email },
      tenant: null,
      roles: [],
      permissions: [],
      memberships: [],
    });
  });

  it("keeps the session: a refresh continues it without a tenant", async () => {
    const response = await refresh(ctx.app, owner.refreshToken);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json().tenant).toBeNull();
    expect(refreshCookieOf(response)?.value).toBeTruthy();
  });

  it("gets 403 naming the way out on tenant routes, then creates a tenant and switches to it", async () => {
    const signedIn = signedInFrom(
      await login(ctx.app, { email: owner.email, password: PASSWORD }),
      owner.email,
    );
    for (const url of ["/api/v1/notes", "/api/v1/tenants/current", "/api/v1/roles"]) {
      const problem = expectProblem(await send(signedIn, "GET", url), "forbidden");
      expect(problem.detail, url).toMatch(NO_ACTIVE_TENANT);
      expect(problem.detail, url).toContain("POST /api/v1/tenants");
    }

    const name = uniqueName("Second Wind");
    const created = await createTenant(signedIn, { name });
    expect(created.statusCode, created.body).toBe(201);
    const tenant = created.json<TenantBody>();
    expect(tenant).toEqual({
      id: expect.any(String),
      name,
      slug: name.toLowerCase().replace(/ /g, "-"),
      plan: "free",
      createdAt: expect.any(String),
    });
    expect(new Date(tenant.createdAt).toISOString()).toBe(tenant.createdAt);

    const me = await send(signedIn, "GET", "/api/v1/auth/me");
    expect(me.json()).toMatchObject({
      tenant: null,
      memberships: [{ tenant: { id: tenant.id, name, slug: tenant.slug }, roles: ["owner"] }],
    });

    const switched = await switchTenant(ctx.app, signedIn, tenant.id, signedIn.refreshToken);
    expect(switched.statusCode, switched.body).toBe(200);
    expect(switched.json().tenant).toEqual({ id: tenant.id, name, slug: tenant.slug });
    const inside = signedInFrom(switched, owner.email);
    const current = await send(inside, "GET", "/api/v1/tenants/current");
    expect(current.statusCode).toBe(200);
    // The same shape as GET /tenants/current.
    expect(current.json()).toEqual(tenant);
    const note = await send(inside, "POST", "/api/v1/notes", { name: "back in business" });
    expect(note.statusCode, note.body).toBe(201);
  });
});

describe("a member removed from their last tenant", () => {
  it("continues without a tenant, and an invitation leads back in", async () => {
    const team = await ctx.newTenant(uniqueName("Team"));
    const user = await register(ctx.app);
    await markEmailVerified(ctx.database, user.body.user.id);
    // Leaves the tenant of registration, joins the team's through an invitation, and is in it.
    expect((await send(user, "DELETE", "/api/v1/tenants/current")).statusCode).toBe(204);
    const afterDelete = signedInFrom(await refresh(ctx.app, user.refreshToken), user.email);
    const roles = await send(team, "GET", "/api/v1/roles");
    const memberRole = roles
      .json<{ items: { id: string; name: string }[] }>()
      .items.find((role) => role.name === "member")?.id;
    const invite = async () => {
      const response = await send(team, "POST", "/api/v1/invitations", {
        email: user.email,
        roleIds: [memberRole],
      });
      expect(response.statusCode, response.body).toBe(201);
      return response.json<{ token: string }>().token;
    };
    const accepted = await send(afterDelete, "POST", "/api/v1/invitations/accept", {
      token: await invite(),
    });
    expect(accepted.statusCode, accepted.body).toBe(200);
    const joined = signedInFrom(
      await switchTenant(ctx.app, afterDelete, team.tenant.id, afterDelete.refreshToken),
      user.email,
    );
    expect((await send(joined, "GET", "/api/v1/notes")).statusCode).toBe(200);

    const removed = await send(team, "DELETE", `/api/v1/members/${user.body.user.id}`);
    expect(removed.statusCode, removed.body).toBe(204);
    expectProblem(await send(joined, "GET", "/api/v1/notes"), "unauthorized");

    const continued = await refresh(ctx.app, joined.refreshToken);
    expect(continued.statusCode, continued.body).toBe(200);
    expect(continued.json().tenant).toBeNull();
    const without = signedInFrom(continued, user.email);
    expect(expectProblem(await send(without, "GET", "/api/v1/notes"), "forbidden").detail).toMatch(
      NO_ACTIVE_TENANT,
    );

    const again = await send(without, "POST", "/api/v1/invitations/accept", {
      token: await invite(),
    });
    expect(again.statusCode, again.body).toBe(200);
    const back = await switchTenant(ctx.app, without, team.tenant.id, without.refreshToken);
    expect(back.statusCode, back.body).toBe(200);
    expect(back.json().tenant.id).toBe(team.tenant.id);
  });
});

/**
 * The routes a token without a tenant is accepted on, each with a request and its answer;
 * every other signed-in route answers such a token 403.
 */
const WITHOUT_TENANT: Record<
  string,
  { status: number; url?: string; payload?: Record<string, unknown> }
> = {
  "GET /api/v1/auth/me": { status: 200 },
  "POST /api/v1/auth/logout-all": { status: 204 },
  "POST /api/v1/auth/switch-tenant": { status: 404, payload: { tenantId: randomUUID() } },
  // The arranged user has no password, so the current one is always wrong.
  "POST /api/v1/auth/password/change": {
    status: 422,
    payload: { currentPassword: "not set at all", newPassword: "a brand new passphrase" },
  },
  "POST /api/v1/auth/email/verify/resend": { status: 202 },
  "GET /api/v1/users/me": { status: 200 },
  "PATCH /api/v1/users/me": { status: 200, payload: { name: "Renamed Without Tenant" } },
  "GET /api/v1/users/me/accounts": { status: 200 },
  // No provider is configured here.
  "POST /api/v1/users/me/accounts/{provider}": {
    status: 404,
    url: "/api/v1/users/me/accounts/google",
    payload: {},
  },
  "DELETE /api/v1/users/me/accounts/{provider}": {
    status: 404,
    url: "/api/v1/users/me/accounts/google",
  },
  // An unknown token: 400, never 403.
  "POST /api/v1/invitations/accept": { status: 400, payload: { token: "A".repeat(43) } },
  "POST /api/v1/tenants": { status: 201, payload: { name: "Made Without Tenant" } },
};

describe("a token without a tenant", () => {
  it("is accepted by the routes that need no tenant, and refused with 403 by every other", async () => {
    const document = (await ctx.app.inject({ url: "/openapi.json" })).json<{
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    }>();
    const secured = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => (operation.security?.length ?? 0) > 0)
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    for (const route of Object.keys(WITHOUT_TENANT)) expect(secured).toContain(route);

    const refused = await signedInWithoutTenant();
    const tenantsBefore = await tenantCount();
    for (const route of secured) {
      const [method, path] = route.split(" ") as ["GET", string];
      const spec = WITHOUT_TENANT[route];
      if (spec) {
        // A user of its own for each: logout-all ends its session.
        const caller = await signedInWithoutTenant();
        const response = await send(caller, method, spec.url ?? path, spec.payload);
        expect(response.statusCode, `${route}: ${response.body}`).toBe(spec.status);
      } else {
        const url = path.replace(/\{[^}]+\}/g, randomUUID());
        // No body: the refusal comes before the body is read or validated.
        const problem = expectProblem(await send(refused, method, url), "forbidden");
        expect(problem.detail, route).toMatch(NO_ACTIVE_TENANT);
      }
    }
    // Only POST /tenants created something.
    expect(await tenantCount()).toBe(tenantsBefore + 1);
  });

  it("stops working at once when its session ends, like any other", async () => {
    const user = await signedInWithoutTenant();
    expect((await send(user, "GET", "/api/v1/auth/me")).statusCode).toBe(200);
    const out = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout",
      headers: { ...user.headers, ...FROM_THE_APP },
    });
    expect(out.statusCode).toBe(204);
    expect((await sessionRow(user.sessionId))?.revokedAt).toBeInstanceOf(Date);
    expectProblem(await send(user, "GET", "/api/v1/auth/me"), "unauthorized");
    expectProblem(await createTenant(user, { name: "Too late" }), "unauthorized");

    const other = await signedInWithoutTenant();
    expect((await send(other, "POST", "/api/v1/auth/logout-all")).statusCode).toBe(204);
    expectProblem(await send(other, "GET", "/api/v1/users/me"), "unauthorized");
  });

  it("reads and renames the user's own account", async () => {
    const user = await signedInWithoutTenant();
    const renamed = await send(user, "PATCH", "/api/v1/users/me", { name: "Ada Again" });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json()).toMatchObject({ id: user.userId, email: user.email, name: "Ada Again" });
    const me = await send(user, "GET", "/api/v1/users/me");
    expect(me.json()).toMatchObject({ id: user.userId, name: "Ada Again" });
    expect(me.body).not.toContain("password");
  });
});

describe("POST /api/v1/tenants", () => {
  it("makes any member the owner of a new tenant with the default roles of registration", async () => {
    const home = await ctx.newTenant(uniqueName("Home"));
    const viewer = await createMember(ctx.database, { tenant: home.tenant, role: "viewer" });
    const session = await createSession(ctx.database, viewer.user.id, { tenantId: home.tenant.id });
    const caller = { headers: await bearerFor(ctx.tokens, session) };
    const name = uniqueName("Side Project");
    const created = await createTenant(caller, { name });
    expect(created.statusCode, created.body).toBe(201);
    const tenant = created.json<TenantBody>();

    // Still a viewer at home, with the same token.
    const home2 = await send(caller, "GET", "/api/v1/tenants/current");
    expect(home2.json().id).toBe(home.tenant.id);
    expect((await membershipsOf(viewer.user.id)).map((row) => row.tenantId).sort()).toEqual(
      [home.tenant.id, tenant.id].sort(),
    );

    const switched = await switchTenant(ctx.app, caller, tenant.id);
    expect(switched.statusCode, switched.body).toBe(200);
    const inside = { headers: bearer(switched.json().accessToken) };
    const me = await send(inside, "GET", "/api/v1/auth/me");
    expect(me.json()).toMatchObject({ tenant: { id: tenant.id }, roles: ["owner"] });
    expect(me.json().permissions).toContain("tenants:delete");

    // The same roles, with the same grants, as a tenant made by registration.
    const registered = await register(ctx.app);
    expect(await rolesOf(inside)).toEqual(await rolesOf(registered));
    expect((await rolesOf(inside)).map((role) => role.name)).toEqual([
      "admin",
      "member",
      "owner",
      "viewer",
    ]);
  });

  it("is recorded in the new tenant's audit log, as the creator's act", async () => {
    const user = await signedInWithoutTenant();
    const created = await createTenant(user, { name: uniqueName("Audited") });
    expect(created.statusCode, created.body).toBe(201);
    const tenant = created.json<TenantBody>();
    const inside = {
      headers: bearer((await switchTenant(ctx.app, user, tenant.id)).json().accessToken),
    };
    const log = await send(inside, "GET", "/api/v1/audit-logs?action=tenant.created");
    expect(log.statusCode, log.body).toBe(200);
    expect(log.json().items).toEqual([
      expect.objectContaining({
        action: "tenant.created",
        resourceType: "tenant",
        resourceId: tenant.id,
        actor: { id: user.userId, email: user.email },
        metadata: { name: tenant.name, slug: tenant.slug },
        requestId: created.headers["x-request-id"],
      }),
    ]);
  });

  it.each([
    ["no name", {}],
    ["an empty name", { name: "" }],
    ["a blank name", { name: "   " }],
    ["a name of 201 characters", { name: "x".repeat(201) }],
    ["a name that is not a string", { name: 42 }],
    ["a tenantId", { name: "Fine", tenantId: randomUUID() }],
  ])("refuses %s with 422 and creates nothing", async (_, payload) => {
    const user = await signedInWithoutTenant();
    const before = await tenantCount();
    const response = await createTenant(user, payload);
    const problem = expectProblem(response, "validation-failed");
    expect(problem.errors?.length).toBeGreaterThan(0);
    expect(await tenantCount()).toBe(before);
    expect(await membershipsOf(user.userId)).toEqual([]);
  });

  it("is limited per user per day: 429 with Retry-After beyond, and nothing created", async () => {
    const user = await signedInWithoutTenant();
    for (let n = 1; n <= CREATIONS_PER_DAY; n++) {
      const response = await createTenant(user, { name: uniqueName(`Venture ${n}`) });
      expect(response.statusCode, response.body).toBe(201);
      expect(response.headers["ratelimit-limit"]).toBeDefined();
    }
    const before = await tenantCount();
    const refused = await createTenant(user, { name: "One too many" });
    expectProblem(refused, "rate-limited");
    const retryAfter = Number(refused.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThan(86_400 - 120);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expect(refused.headers["ratelimit-remaining"]).toBe("0");
    expect(await tenantCount()).toBe(before);
    expect(await membershipsOf(user.userId)).toHaveLength(CREATIONS_PER_DAY);

    // Another user is not affected.
    const other = await signedInWithoutTenant();
    expect((await createTenant(other, { name: uniqueName("Unrelated") })).statusCode).toBe(201);
  });

  it("is documented, and the token response documents a tenant that may be null", async () => {
    const document = (await ctx.app.inject({ url: "/openapi.json" })).json<{
      paths: Record<string, Record<string, Record<string, unknown>>>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    }>();
    const operation = document.paths["/api/v1/tenants"]?.post as {
      responses: Record<string, unknown>;
      requestBody: unknown;
    };
    expect(Object.keys(operation.responses)).toContain("201");
    expect(JSON.stringify(operation.responses["201"])).toContain("#/components/schemas/Tenant");
    for (const schema of ["TokenResponse", "CurrentUser"]) {
      const tenant = JSON.stringify(document.components.schemas[schema]?.properties.tenant);
      expect(tenant, schema).toContain('"null"');
    }
  });
});

describe("the session of a deleted tenant", () => {
  it("moves to another tenant of the user at the next refresh", async () => {
    const user = await register(ctx.app);
    const other = await createTenant(user, { name: uniqueName("Other") });
    expect(other.statusCode).toBe(201);
    expect((await send(user, "DELETE", "/api/v1/tenants/current")).statusCode).toBe(204);
    const sessionId = (
      await ctx.database.bypassTenantIsolation("test", (db) =>
        db.select().from(sessions).where(eq(sessions.userId, user.body.user.id)),
      )
    )[0]?.id as string;
    expect((await sessionRow(sessionId))?.currentTenantId).toBeNull();

    const response = await refresh(ctx.app, user.refreshToken);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json().tenant.id).toBe(other.json().id);
    expect((await sessionRow(sessionId))?.currentTenantId).toBe(other.json().id);
  });
});

describe("tenants created at the same moment with the same name", () => {
  it("each get a slug of their own, and no registration is refused for it", async () => {
    const tenantName = `Same Name ${randomUUID().slice(0, 8)}`;
    const registered = await Promise.all(
      Array.from({ length: 8 }, () => register(ctx.app, { tenantName })),
    );
    const slugs = new Set(registered.map((user) => user.body.tenant?.slug));
    expect(slugs.size).toBe(8);
  });
});
