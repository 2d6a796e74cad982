import { randomUUID } from "node:crypto";
import { eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memberships, users } from "../../../../src/core/database/index.js";
import type { DefaultRoleName } from "../../../../src/core/permissions/index.js";
import { invitations } from "../../../../src/modules/invitations/invitations.table.js";
import { createSignedInMember } from "../../../helpers/identity.js";
import { expectProblem } from "../../../helpers/problems.js";
import { expectedGrantsOf, loadRouteExpectations } from "../../../helpers/route-expectations.js";
import {
  setupTenancyTest,
  type TenancyTestContext,
  type TestTenant,
} from "../../../helpers/tenancy.js";

/** Roles and members: the guard rails, and changes that apply on the member's next request. */

let ctx: TenancyTestContext;
beforeAll(async () => {
  ctx = await setupTenancyTest();
});
afterAll(() => ctx?.close());

interface Role {
  id: string;
  name: string;
  description: string;
  permissions: string[];
  system: boolean;
}

async function memberOf(tenant: TestTenant, role: DefaultRoleName) {
  const { userId, sessionId } = await createSignedInMember(ctx.database, tenant.tenant.id, {
    role,
  });
  const token = await ctx.tokens.signAccessToken({
    sub: userId,
    tid: tenant.tenant.id,
    sid: sessionId,
  });
  return { userId, headers: { authorization: `Bearer ${token}` } };
}

async function rolesOf(tenant: TestTenant): Promise<Role[]> {
  const response = await ctx.app.inject({ url: "/api/v1/roles", headers: tenant.headers });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ items: Role[] }>().items;
}

const roleNamed = async (tenant: TestTenant, name: string) =>
  (await rolesOf(tenant)).find((role) => role.name === name) as Role;

describe("roles", () => {
  it("a new tenant has the four system roles of the contract", async () => {
    const tenant = await ctx.newTenant();
    const roles = await rolesOf(tenant);
    // Each module's expected default grants (its routes-expectations, the notes fixture's too).
    const expected = await loadRouteExpectations();
    expect(roles.map((role) => [role.name, role.system, role.permissions])).toEqual(
      (["owner", "admin", "member", "viewer"] as const).map((name) => [
        name,
        true,
        expectedGrantsOf(expected, name),
      ]),
    );
  });

  it("creates, changes and deletes a custom role; system roles answer 409", async () => {
    const tenant = await ctx.newTenant();
    const created = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/roles",
      headers: tenant.headers,
      payload: {
        name: "Editors",
        description: "Edit notes",
        permissions: ["notes:*", "notes:read"],
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const role = created.json<Role>();
    expect(role).toMatchObject({
      name: "Editors",
      system: false,
      permissions: ["notes:*", "notes:read"],
    });

    const duplicate = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/roles",
      headers: tenant.headers,
      payload: { name: "Editors", permissions: [] },
    });
    expectProblem(duplicate, "conflict");

    const changed = await ctx.app.inject({
      method: "PATCH",
      url: `/api/v1/roles/${role.id}`,
      headers: tenant.headers,
      payload: { name: "Writers", permissions: ["notes:create"] },
    });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ name: "Writers", permissions: ["notes:create"] });

    const owner = await roleNamed(tenant, "owner");
    for (const request of [
      { method: "PATCH" as const, payload: { description: "mine now" } },
      { method: "DELETE" as const },
    ]) {
      const refused = await ctx.app.inject({
        url: `/api/v1/roles/${owner.id}`,
        headers: tenant.headers,
        ...request,
      });
      expectProblem(refused, "conflict");
    }
    expect((await roleNamed(tenant, "owner")).permissions).toEqual(["*"]);

    const deleted = await ctx.app.inject({
      method: "DELETE",
      url: `/api/v1/roles/${role.id}`,
      headers: tenant.headers,
    });
    expect(deleted.statusCode).toBe(204);
    expect((await rolesOf(tenant)).map((each) => each.name)).not.toContain("Writers");
  });

  it.each([
    ["an unknown permission", ["notes:read", "notes:fly"]],
    ["an unknown resource wildcard", ["spaceships:*"]],
    ["a malformed permission", ["notes"]],
  ])("refuses %s with 422 and creates nothing", async (_, permissions) => {
    const tenant = await ctx.newTenant();
    const before = await rolesOf(tenant);
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/roles",
      headers: tenant.headers,
      payload: { name: "Odd", permissions },
    });
    const problem = expectProblem(response, "validation-failed");
    expect(problem.errors?.[0]?.field).toMatch(/^permissions/);
    expect(await rolesOf(tenant)).toEqual(before);
  });

  it("lets nobody grant a permission they do not hold", async () => {
    const tenant = await ctx.newTenant();
    const admin = await memberOf(tenant, "admin");
    const refused = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/roles",
      headers: admin.headers,
      payload: { name: "Destroyers", permissions: ["tenants:delete"] },
    });
    expect(expectProblem(refused, "forbidden").detail).toContain("tenants:delete");
    const wildcard = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/roles",
      headers: admin.headers,
      payload: { name: "Everything", permissions: ["*"] },
    });
    expectProblem(wildcard, "forbidden");
    // Nor hand someone the owner role.
    const member = await memberOf(tenant, "member");
    const owner = await roleNamed(tenant, "owner");
    const promote = await ctx.app.inject({
      method: "PUT",
      url: `/api/v1/members/${member.userId}/roles`,
      headers: admin.headers,
      payload: { roleIds: [owner.id] },
    });
    expectProblem(promote, "forbidden");
  });
});

describe("who may change whom", () => {
  it("an admin can neither demote nor remove an owner", async () => {
    const tenant = await ctx.newTenant();
    const admin = await memberOf(tenant, "admin");
    const viewer = await roleNamed(tenant, "viewer");
    await memberOf(tenant, "owner");
    const demote = await ctx.app.inject({
      method: "PUT",
      url: `/api/v1/members/${tenant.userId}/roles`,
      headers: admin.headers,
      payload: { roleIds: [viewer.id] },
    });
    expectProblem(demote, "forbidden");
    const remove = await ctx.app.inject({
      method: "DELETE",
      url: `/api/v1/members/${tenant.userId}`,
      headers: admin.headers,
    });
    expectProblem(remove, "forbidden");
  });

  it("an admin can neither weaken nor delete a role granting more than admins hold", async () => {
    const tenant = await ctx.newTenant();
    const admin = await memberOf(tenant, "admin");
    const created = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/roles",
      headers: tenant.headers,
      payload: { name: "Closers", permissions: ["tenants:delete"] },
    });
    const role = created.json<Role>();
    const weaken = await ctx.app.inject({
      method: "PATCH",
      url: `/api/v1/roles/${role.id}`,
      headers: admin.headers,
      payload: { permissions: ["notes:read"] },
    });
    expectProblem(weaken, "forbidden");
    const remove = await ctx.app.inject({
      method: "DELETE",
      url: `/api/v1/roles/${role.id}`,
      headers: admin.headers,
    });
    expectProblem(remove, "forbidden");
    expect((await roleNamed(tenant, "Closers")).permissions).toEqual(["tenants:delete"]);
  });

  it("answers 403 before looking at the body of a caller without the permission", async () => {
    const tenant = await ctx.newTenant();
    const viewer = await memberOf(tenant, "viewer");
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/roles",
      headers: viewer.headers,
      payload: { nonsense: true },
    });
    expectProblem(response, "forbidden");
  });
});

describe("members", () => {
  it("lists members with their roles, a page at a time", async () => {
    const tenant = await ctx.newTenant();
    await memberOf(tenant, "viewer");
    await memberOf(tenant, "member");
    const first = await ctx.app.inject({
      url: "/api/v1/members?limit=2",
      headers: tenant.headers,
    });
    expect(first.statusCode, first.body).toBe(200);
    const page = first.json<{
      items: { user: { id: string }; roles: { name: string }[] }[];
      nextCursor: string;
    }>();
    expect(page.items).toHaveLength(2);
    const second = await ctx.app.inject({
      url: `/api/v1/members?limit=2&cursor=${page.nextCursor}`,
      headers: tenant.headers,
    });
    const rest = second.json<typeof page>();
    expect(rest.items).toHaveLength(1);
    expect(rest.nextCursor).toBeNull();
    const roles = [...page.items, ...rest.items].map((member) => member.roles[0]?.name).sort();
    expect(roles).toEqual(["member", "owner", "viewer"]);
  });

  it("applies a change of roles on the member's next request", async () => {
    const tenant = await ctx.newTenant();
    const viewer = await memberOf(tenant, "viewer");
    const create = () =>
      ctx.app.inject({
        method: "POST",
        url: "/api/v1/notes",
        headers: viewer.headers,
        payload: { name: "by the viewer" },
      });
    expectProblem(await create(), "forbidden");
    const member = await roleNamed(tenant, "member");
    const set = await ctx.app.inject({
      method: "PUT",
      url: `/api/v1/members/${viewer.userId}/roles`,
      headers: tenant.headers,
      payload: { roleIds: [member.id] },
    });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json().roles).toEqual([{ id: member.id, name: "member" }]);
    expect((await create()).statusCode).toBe(201);

    // And a role's own permissions, for everyone holding it.
    const changed = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/roles",
      headers: tenant.headers,
      payload: { name: "Readers", permissions: ["notes:read"] },
    });
    const readers = changed.json<Role>();
    await ctx.app.inject({
      method: "PUT",
      url: `/api/v1/members/${viewer.userId}/roles`,
      headers: tenant.headers,
      payload: { roleIds: [readers.id] },
    });
    expectProblem(await create(), "forbidden");
    await ctx.app.inject({
      method: "PATCH",
      url: `/api/v1/roles/${readers.id}`,
      headers: tenant.headers,
      payload: { permissions: ["notes:read", "notes:create"] },
    });
    expect((await create()).statusCode).toBe(201);
  });

  it("keeps at least one owner: the last cannot be demoted or removed", async () => {
    const tenant = await ctx.newTenant();
    const viewer = await roleNamed(tenant, "viewer");
    const demote = await ctx.app.inject({
      method: "PUT",
      url: `/api/v1/members/${tenant.userId}/roles`,
      headers: tenant.headers,
      payload: { roleIds: [viewer.id] },
    });
    expectProblem(demote, "conflict");
    const remove = await ctx.app.inject({
      method: "DELETE",
      url: `/api/v1/members/${tenant.userId}`,
      headers: tenant.headers,
    });
    expectProblem(remove, "conflict");
    expect(
      (await ctx.app.inject({ url: "/api/v1/notes", headers: tenant.headers })).statusCode,
    ).toBe(200);

    // With a second owner, the first may go.
    const second = await memberOf(tenant, "owner");
    const removed = await ctx.app.inject({
      method: "DELETE",
      url: `/api/v1/members/${tenant.userId}`,
      headers: second.headers,
    });
    expect(removed.statusCode).toBe(204);
    expectProblem(
      await ctx.app.inject({ url: "/api/v1/notes", headers: tenant.headers }),
      "unauthorized",
    );
  });

  it("answers 404 for a member of another tenant, and 422 for a role of another tenant", async () => {
    const a = await ctx.newTenant();
    const b = await ctx.newTenant();
    const bMember = await memberOf(b, "member");
    const bViewer = await roleNamed(b, "viewer");
    const aViewer = await roleNamed(a, "viewer");
    expectProblem(
      await ctx.app.inject({
        method: "DELETE",
        url: `/api/v1/members/${bMember.userId}`,
        headers: a.headers,
      }),
      "not-found",
    );
    expectProblem(
      await ctx.app.inject({
        method: "PUT",
        url: `/api/v1/members/${bMember.userId}/roles`,
        headers: a.headers,
        payload: { roleIds: [aViewer.id] },
      }),
      "not-found",
    );
    const aMember = await memberOf(a, "member");
    const foreignRole = await ctx.app.inject({
      method: "PUT",
      url: `/api/v1/members/${aMember.userId}/roles`,
      headers: a.headers,
      payload: { roleIds: [bViewer.id] },
    });
    expectProblem(foreignRole, "validation-failed");
    expect(
      (await ctx.app.inject({ url: "/api/v1/notes", headers: bMember.headers })).statusCode,
    ).toBe(200);
  });
});

describe("a member's pending invitations", () => {
  async function inviteAs(tenant: TestTenant, headers: { authorization: string }) {
    const viewer = await roleNamed(tenant, "viewer");
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/invitations",
      headers,
      payload: { email: `invitee-${randomUUID()}@example.test`, roleIds: [viewer.id] },
    });
    expect(response.statusCode, response.body).toBe(201);
    return response.json<{ id: string }>().id;
  }

  async function pending(tenant: TestTenant) {
    const response = await ctx.app.inject({ url: "/api/v1/invitations", headers: tenant.headers });
    expect(response.statusCode, response.body).toBe(200);
    return response.json<{ items: { id: string }[] }>().items.map((each) => each.id);
  }

  it("are revoked when the member is removed, or loses a role, in the same transaction", async () => {
    const tenant = await ctx.newTenant();
    const removed = await memberOf(tenant, "admin");
    const demoted = await memberOf(tenant, "admin");
    const kept = await memberOf(tenant, "admin");
    const byRemoved = await inviteAs(tenant, removed.headers);
    const byDemoted = await inviteAs(tenant, demoted.headers);
    const byKept = await inviteAs(tenant, kept.headers);
    const byOwner = await inviteAs(tenant, tenant.headers);

    const deletion = await ctx.app.inject({
      method: "DELETE",
      url: `/api/v1/members/${removed.userId}`,
      headers: tenant.headers,
    });
    expect(deletion.statusCode).toBe(204);
    const member = await roleNamed(tenant, "member");
    const admin = await roleNamed(tenant, "admin");
    const demotion = await ctx.app.inject({
      method: "PUT",
      url: `/api/v1/members/${demoted.userId}/roles`,
      headers: tenant.headers,
      payload: { roleIds: [member.id] },
    });
    expect(demotion.statusCode, demotion.body).toBe(200);
    // Keeping every role (here with one more) takes nothing away: the invitations stay.
    const promotion = await ctx.app.inject({
      method: "PUT",
      url: `/api/v1/members/${kept.userId}/roles`,
      headers: tenant.headers,
      payload: { roleIds: [admin.id, member.id] },
    });
    expect(promotion.statusCode, promotion.body).toBe(200);

    expect((await pending(tenant)).sort()).toEqual([byKept, byOwner].sort());
    const rows = await ctx.database.bypassTenantIsolation("test: inspect", (db) =>
      db
        .select({ id: invitations.id, revokedAt: invitations.revokedAt })
        .from(invitations)
        .where(inArray(invitations.id, [byRemoved, byDemoted])),
    );
    expect(rows.map((row) => row.revokedAt)).toEqual([expect.any(Date), expect.any(Date)]);
  });

  it("are revoked whichever way the membership ends or is suspended", async () => {
    const tenant = await ctx.newTenant();
    const suspended = await memberOf(tenant, "admin");
    const deleted = await memberOf(tenant, "admin");
    const bySuspended = await inviteAs(tenant, suspended.headers);
    const byDeleted = await inviteAs(tenant, deleted.headers);
    const byOwner = await inviteAs(tenant, tenant.headers);
    await ctx.database.bypassTenantIsolation(
      "test: end memberships outside the routes",
      async (db) => {
        await db
          .update(memberships)
          .set({ status: "suspended" })
          .where(eq(memberships.userId, suspended.userId));
        await db.delete(users).where(eq(users.id, deleted.userId));
      },
    );
    expect(await pending(tenant)).toEqual([byOwner]);
    const rows = await ctx.database.bypassTenantIsolation("test: inspect", (db) =>
      db
        .select({ revokedAt: invitations.revokedAt })
        .from(invitations)
        .where(inArray(invitations.id, [bySuspended, byDeleted])),
    );
    expect(rows.map((row) => row.revokedAt)).toEqual([expect.any(Date), expect.any(Date)]);
  });
});

describe("role names", () => {
  const createRole = (tenant: TestTenant, name: string) =>
    ctx.app.inject({
      method: "POST",
      url: "/api/v1/roles",
      headers: tenant.headers,
      payload: { name, permissions: ["notes:read"] },
    });

  it("are unique in the tenant whatever their case: 409 on create and on rename", async () => {
    const tenant = await ctx.newTenant();
    expect((await createRole(tenant, "Editors")).statusCode).toBe(201);
    for (const name of ["editors", "EDITORS", " eDiToRs "]) {
      const problem = expectProblem(await createRole(tenant, name), "conflict");
      expect(problem.detail).toMatch(/ignoring case/);
    }
    const writers = (await createRole(tenant, "Writers")).json<Role>();
    const renamed = await ctx.app.inject({
      method: "PATCH",
      url: `/api/v1/roles/${writers.id}`,
      headers: tenant.headers,
      payload: { name: "EDITORS" },
    });
    expectProblem(renamed, "conflict");
    expect((await roleNamed(tenant, "Writers")).id).toBe(writers.id);
    // Another tenant is not affected.
    expect((await createRole(await ctx.newTenant(), "EDITORS")).statusCode).toBe(201);
  });

  it("compare after NFC normalisation: a decomposed accent is the same name", async () => {
    const tenant = await ctx.newTenant();
    const created = await createRole(tenant, "Cafe\u0301");
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json<Role>().name).toBe("Caf\u00e9");
    expectProblem(await createRole(tenant, "CAF\u00c9"), "conflict");
  });

  it.each(["Owner", "ADMIN", "Member", "vIEWER", "\uff4f\uff57\uff4e\uff45\uff52"])(
    "may not take a system role's name in any case or lookalike form: %s",
    async (name) => {
      const tenant = await ctx.newTenant();
      const before = await rolesOf(tenant);
      const problem = expectProblem(await createRole(tenant, name), "conflict");
      expect(problem.detail).toMatch(/belongs to the system role (owner|admin|member|viewer)/);
      const custom = (await createRole(tenant, "Custom")).json<Role>();
      const renamed = await ctx.app.inject({
        method: "PATCH",
        url: `/api/v1/roles/${custom.id}`,
        headers: tenant.headers,
        payload: { name },
      });
      expectProblem(renamed, "conflict");
      expect((await rolesOf(tenant)).map((role) => role.name)).toEqual([
        ...before.map((role) => role.name),
        "Custom",
      ]);
    },
  );

  it.each([
    ["a zero-width space", "owner\u200b", "U+200B"],
    ["a right-to-left override", "\u202eowner", "U+202E"],
    ["a left-to-right isolate", "ad\u2066min", "U+2066"],
    ["a soft hyphen", "ow\u00adner", "U+00AD"],
    ["a line break", "own\ner", "U+000A"],
  ])("refuses a name with %s with 422 and creates nothing", async (_, name, named) => {
    const tenant = await ctx.newTenant();
    const before = await rolesOf(tenant);
    const problem = expectProblem(await createRole(tenant, name), "validation-failed");
    expect(problem.errors).toEqual([{ field: "name", message: expect.stringContaining(named) }]);
    expect(await rolesOf(tenant)).toEqual(before);
  });
});
