import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { users } from "../../src/core/database/index.js";
import { createSignedInMember } from "../helpers/identity.js";
import { expectProblem } from "../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext } from "../helpers/tenancy.js";

/**
 * Every signed-in route of the OpenAPI document, called by a member of each default role, by a
 * platform administrator and by a user who is not a member: each answers its success status or
 * 403 exactly as the role table of the HTTP contract says (401 for the non-member). A route
 * missing from the table below fails the suite, so a new route must state who may call it.
 */

let ctx: TenancyTestContext;
beforeAll(async () => {
  // Hundreds of requests from one test client: the per-IP limit is not what is tested here.
  ctx = await setupTenancyTest({ RATE_LIMIT_IP: "1000000" });
});
afterAll(() => ctx?.close());

type Requirement = "member" | "platform-admin" | `${string}:${string}`;

interface RouteCase {
  readonly requires: Requirement;
  /** The path to call, when the route has parameters. */
  readonly url?: (setup: Setup) => string;
  /** The answer when allowed. */
  readonly status: number;
  readonly payload?: (setup: Setup) => Record<string, unknown>;
}

/**
 * The default roles' grants as documented (docs/permissions.md, "The default roles"), written out
 * by hand so that the test does not read them from the code it checks.
 */
const ROLE_GRANTS: Record<string, readonly string[] | "everything"> = {
  owner: "everything",
  admin: [
    "items:read",
    "items:create",
    "items:update",
    "items:delete",
    "members:read",
    "members:invite",
    "members:update",
    "members:delete",
    "roles:read",
    "roles:create",
    "roles:update",
    "roles:delete",
    "tenants:update",
    "audit:read",
  ],
  member: ["items:read", "items:create", "items:update", "members:read"],
  viewer: ["items:read", "members:read"],
};

const ROUTES: Record<string, RouteCase> = {
  "GET /api/v1/items": { requires: "items:read", status: 200 },
  "POST /api/v1/items": { requires: "items:create", status: 201, payload: () => ({ name: "x" }) },
  "GET /api/v1/items/{id}": { requires: "items:read", status: 200 },
  "PATCH /api/v1/items/{id}": {
    requires: "items:update",
    status: 200,
    payload: () => ({ name: "renamed" }),
  },
  "DELETE /api/v1/items/{id}": { requires: "items:delete", status: 204 },
  "POST /api/v1/tenants": {
    requires: "member",
    status: 201,
    payload: () => ({ name: `Tenant ${Math.random()}` }),
  },
  "GET /api/v1/tenants/current": { requires: "member", status: 200 },
  "PATCH /api/v1/tenants/current": {
    requires: "tenants:update",
    status: 200,
    payload: () => ({ name: "Renamed" }),
  },
  "DELETE /api/v1/tenants/current": { requires: "tenants:delete", status: 204 },
  "GET /api/v1/permissions": { requires: "member", status: 200 },
  "GET /api/v1/auth/me": { requires: "member", status: 200 },
  "POST /api/v1/auth/logout-all": { requires: "member", status: 204 },
  "POST /api/v1/auth/switch-tenant": {
    requires: "member",
    status: 200,
    payload: (setup) => ({ tenantId: setup.tenantId }),
  },
  // The arranged users have no password, so the current one is always wrong: 422, not 403.
  "POST /api/v1/auth/password/change": {
    requires: "member",
    status: 422,
    payload: () => ({ currentPassword: "not set at all", newPassword: "a brand new passphrase" }),
  },
  "POST /api/v1/auth/email/verify/resend": { requires: "member", status: 202 },
  "GET /api/v1/users/me": { requires: "member", status: 200 },
  "PATCH /api/v1/users/me": { requires: "member", status: 200, payload: () => ({ name: "N" }) },
  "GET /api/v1/users/me/accounts": { requires: "member", status: 200 },
  // No provider is configured here: 404 for any member, never 403.
  "POST /api/v1/users/me/accounts/{provider}": {
    requires: "member",
    status: 404,
    url: () => "/api/v1/users/me/accounts/google",
    payload: () => ({}),
  },
  // The arranged users have no linked account: 404 for any member, never 403.
  "DELETE /api/v1/users/me/accounts/{provider}": {
    requires: "member",
    status: 404,
    url: () => "/api/v1/users/me/accounts/google",
  },
  "GET /api/v1/roles": { requires: "roles:read", status: 200 },
  "POST /api/v1/roles": {
    requires: "roles:create",
    status: 201,
    payload: () => ({ name: `role ${Math.random()}`, permissions: ["items:read"] }),
  },
  "PATCH /api/v1/roles/{id}": {
    requires: "roles:update",
    status: 200,
    url: (setup) => `/api/v1/roles/${setup.customRoleId}`,
    payload: () => ({ description: "changed" }),
  },
  "DELETE /api/v1/roles/{id}": {
    requires: "roles:delete",
    status: 204,
    url: (setup) => `/api/v1/roles/${setup.customRoleId}`,
  },
  "GET /api/v1/members": { requires: "members:read", status: 200 },
  "GET /api/v1/audit-logs": { requires: "audit:read", status: 200 },
  "POST /api/v1/invitations": {
    requires: "members:invite",
    status: 201,
    payload: (setup) => ({
      email: `invitee-${Math.random()}@example.test`,
      roleIds: [setup.viewerRoleId],
    }),
  },
  "GET /api/v1/invitations": { requires: "members:invite", status: 200 },
  "DELETE /api/v1/invitations/{id}": {
    requires: "members:invite",
    status: 204,
    url: (setup) => `/api/v1/invitations/${setup.invitationId}`,
  },
  // Any signed-in user may try a token; this one is unknown.
  "POST /api/v1/invitations/accept": {
    requires: "member",
    status: 400,
    payload: () => ({ token: "A".repeat(43) }),
  },
  "GET /api/v1/admin/tenants": { requires: "platform-admin", status: 200 },
  "PATCH /api/v1/admin/tenants/{id}": {
    requires: "platform-admin",
    status: 200,
    url: (setup) => `/api/v1/admin/tenants/${setup.tenantId}`,
    payload: () => ({ status: "active" }),
  },
  "PUT /api/v1/members/{userId}/roles": {
    requires: "members:update",
    status: 200,
    url: (setup) => `/api/v1/members/${setup.otherMemberId}/roles`,
    payload: (setup) => ({ roleIds: [setup.viewerRoleId] }),
  },
  "DELETE /api/v1/members/{userId}": {
    requires: "members:delete",
    status: 204,
    url: (setup) => `/api/v1/members/${setup.otherMemberId}`,
  },
};

const CALLERS = ["owner", "admin", "member", "viewer", "platform admin", "non-member"] as const;
type Caller = (typeof CALLERS)[number];

function allowed(caller: Caller, requires: Requirement): boolean {
  if (caller === "non-member") return false;
  if (requires === "platform-admin") return caller === "platform admin";
  if (caller === "platform admin" || requires === "member") return true;
  const grants = ROLE_GRANTS[caller];
  return grants === "everything" || (grants?.includes(requires) ?? false);
}

interface Setup {
  tenantId: string;
  itemId: string;
  customRoleId: string;
  viewerRoleId: string;
  otherMemberId: string;
  invitationId: string;
  headers: { authorization: string };
}

/** A fresh tenant with an item, and a token for `caller` in it. */
async function arrange(caller: Caller): Promise<Setup> {
  const tenant = await ctx.newTenant();
  const item = await ctx.app.inject({
    method: "POST",
    url: "/api/v1/items",
    headers: tenant.headers,
    payload: { name: "existing" },
  });
  expect(item.statusCode).toBe(201);
  const custom = await ctx.app.inject({
    method: "POST",
    url: "/api/v1/roles",
    headers: tenant.headers,
    payload: { name: "Editors", permissions: ["items:*"] },
  });
  expect(custom.statusCode, custom.body).toBe(201);
  const rolesPage = await ctx.app.inject({ url: "/api/v1/roles", headers: tenant.headers });
  const viewer = rolesPage
    .json<{ items: { id: string; name: string }[] }>()
    .items.find((role) => role.name === "viewer");
  const other = await createSignedInMember(ctx.database, tenant.tenant.id, { role: "member" });
  const invitation = await ctx.app.inject({
    method: "POST",
    url: "/api/v1/invitations",
    headers: tenant.headers,
    payload: { email: `pending-${Math.random()}@example.test`, roleIds: [viewer?.id] },
  });
  expect(invitation.statusCode, invitation.body).toBe(201);
  let userId = tenant.userId;
  let sessionId = tenant.sessionId;
  const tokenTenant = tenant.tenant.id;
  if (caller === "non-member") {
    // Signed in elsewhere, with a token naming this tenant.
    const elsewhere = await ctx.newTenant();
    userId = elsewhere.userId;
    sessionId = elsewhere.sessionId;
  } else if (caller !== "owner") {
    const role = caller === "platform admin" ? "viewer" : caller;
    ({ userId, sessionId } = await createSignedInMember(ctx.database, tenant.tenant.id, { role }));
    if (caller === "platform admin") {
      await ctx.database.bypassTenantIsolation("test: make a platform admin", (db) =>
        db.update(users).set({ isPlatformAdmin: true }).where(eq(users.id, userId)),
      );
    }
  }
  const token = await ctx.tokens.signAccessToken({ sub: userId, tid: tokenTenant, sid: sessionId });
  return {
    tenantId: tenant.tenant.id,
    itemId: item.json().id,
    customRoleId: custom.json().id,
    viewerRoleId: viewer?.id as string,
    otherMemberId: other.userId,
    invitationId: invitation.json().id,
    headers: { authorization: `Bearer ${token}` },
  };
}

describe("the role table", () => {
  it("covers every signed-in route the OpenAPI document lists", async () => {
    const document = (await ctx.app.inject({ url: "/openapi.json" })).json<{
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    }>();
    const secured = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => (operation.security?.length ?? 0) > 0)
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(new Set(secured)).toEqual(new Set(Object.keys(ROUTES)));
  });

  const cases = Object.entries(ROUTES).flatMap(([route, spec]) =>
    CALLERS.map((caller) => [route, caller, spec] as const),
  );
  it.each(cases)("%s as %s", async (route, caller, spec) => {
    const setup = await arrange(caller);
    const [method, path] = route.split(" ") as [string, string];
    const response = await ctx.app.inject({
      method: method as "GET",
      url: spec.url ? spec.url(setup) : path.replace("{id}", setup.itemId),
      headers: setup.headers,
      ...(spec.payload ? { payload: spec.payload(setup) } : {}),
    });
    if (caller === "non-member") {
      expectProblem(response, "unauthorized");
    } else if (allowed(caller, spec.requires)) {
      expect(response.statusCode, response.body).toBe(spec.status);
    } else {
      const problem = expectProblem(response, "forbidden");
      expect(problem.detail).toContain(
        spec.requires === "platform-admin" ? "platform administrators" : spec.requires,
      );
    }
  });
});
