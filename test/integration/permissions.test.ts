import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { users } from "../../src/core/database/index.js";
import { createSignedInMember } from "../helpers/identity.js";
import { expectProblem } from "../helpers/problems.js";
import {
  allRoutes,
  expectedPermissionsOf,
  loadRouteExpectations,
  type MatrixSetup,
  type ModuleExpectations,
  type Requirement,
} from "../helpers/route-expectations.js";
import { setupTenancyTest, type TenancyTestContext } from "../helpers/tenancy.js";

/**
 * Every signed-in route of the OpenAPI document, called by a member of each default role, by a
 * platform administrator and by a user who is not a member: each answers its success status or
 * 403 exactly as the role table of the HTTP contract says (401 for the non-member). Each module
 * states who may call its routes in test/integration/modules/<module>/; a route no module's
 * expectations name fails the suite, so a new route must state who may call it.
 */

let ctx: TenancyTestContext;
beforeAll(async () => {
  // Hundreds of requests from one test client: the per-IP limit is not what is tested here.
  ctx = await setupTenancyTest({ RATE_LIMIT_IP: "1000000" });
});
afterAll(() => ctx?.close());

const expectations = await loadRouteExpectations();
/** Every module's routes (test/integration/modules/<module>/<module>.routes-expectations.ts). */
const ROUTES = allRoutes(expectations);
/** The default roles' permissions as the modules' expectations grant them (`owner`: everything). */
const ROLE_GRANTS = {
  admin: expectedPermissionsOf(expectations, "admin"),
  member: expectedPermissionsOf(expectations, "member"),
  viewer: expectedPermissionsOf(expectations, "viewer"),
};

type ModuleArrange = ModuleExpectations["arrange"];

const CALLERS = ["owner", "admin", "member", "viewer", "platform admin", "non-member"] as const;
type Caller = (typeof CALLERS)[number];

function allowed(caller: Caller, requires: Requirement): boolean {
  if (caller === "non-member") return false;
  if (requires === "platform-admin") return caller === "platform admin";
  if (caller === "platform admin" || caller === "owner" || requires === "member") return true;
  return ROLE_GRANTS[caller].has(requires);
}

/**
 * A fresh tenant with what the route's module arranges (`arrange` of its expectations), a custom
 * role, a second member and a pending invitation, and a token for `caller` in it.
 */
async function arrange(caller: Caller, arrangeModule?: ModuleArrange): Promise<MatrixSetup> {
  const tenant = await ctx.newTenant();
  const arranged = arrangeModule
    ? await arrangeModule((request) =>
        ctx.app.inject({ ...request, headers: { ...request.headers, ...tenant.headers } }),
      )
    : {};
  const custom = await ctx.app.inject({
    method: "POST",
    url: "/api/v1/roles",
    headers: tenant.headers,
    payload: { name: "Editors", permissions: ["notes:*"] },
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
    customRoleId: custom.json().id,
    viewerRoleId: viewer?.id as string,
    otherMemberId: other.userId,
    invitationId: invitation.json().id,
    arranged,
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
    expect(new Set(secured)).toEqual(new Set(ROUTES.keys()));
  });

  it("gives every route with a path parameter the url to call (built from `arrange`)", () => {
    const withoutUrl = [...ROUTES].filter(([route, spec]) => route.includes("{") && !spec.url);
    expect(withoutUrl.map(([route]) => route)).toEqual([]);
  });

  const cases = [...expectations.values()].flatMap((module) =>
    Object.entries(module.routes).flatMap(([route, spec]) =>
      CALLERS.map((caller) => [route, caller, spec, module.arrange] as const),
    ),
  );
  it.each(cases)("%s as %s", async (route, caller, spec, arrangeModule) => {
    const setup = await arrange(caller, arrangeModule);
    const [method, path] = route.split(" ") as [string, string];
    const response = await ctx.app.inject({
      method: method as "GET",
      url: spec.url ? spec.url(setup) : path,
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
