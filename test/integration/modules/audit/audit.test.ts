import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, register } from "../../../helpers/auth.js";
import { expectProblem } from "../../../helpers/problems.js";
import {
  setupTenancyTest,
  type TenancyTestContext,
  type TestTenant,
} from "../../../helpers/tenancy.js";

/** The audit log: row changes recorded by triggers, events, filters, and append-only rows. */

let ctx: TenancyTestContext;
beforeAll(async () => {
  ctx = await setupTenancyTest();
});
afterAll(() => ctx?.close());

interface Entry {
  id: string;
  action: string;
  resourceType: string;
  resourceId: string | null;
  actor: { id: string; email: string | null } | null;
  changes: Record<string, { old: unknown; new: unknown }> | null;
  metadata: Record<string, unknown>;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

async function entries(tenant: { headers: { authorization: string } }, query = "") {
  const response = await ctx.app.inject({
    url: `/api/v1/audit-logs${query}`,
    headers: tenant.headers,
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ items: Entry[]; nextCursor: string | null }>();
}

describe("row changes", () => {
  it("records note create, update and delete with the changed fields, actor and request id", async () => {
    const tenant = await ctx.newTenant();
    const requestId = randomUUID();
    const created = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/notes",
      headers: { ...tenant.headers, "x-request-id": requestId },
      payload: { name: "first", description: "one" },
    });
    const id = created.json().id as string;
    await ctx.app.inject({
      method: "PATCH",
      url: `/api/v1/notes/${id}`,
      headers: tenant.headers,
      payload: { name: "renamed" },
    });
    await ctx.app.inject({ method: "DELETE", url: `/api/v1/notes/${id}`, headers: tenant.headers });

    const { items } = await entries(tenant, "?resourceType=note");
    expect(items.map((entry) => entry.action)).toEqual([
      "note.deleted",
      "note.updated",
      "note.created",
    ]);
    const [deleted, updated, inserted] = items as [Entry, Entry, Entry];
    expect(inserted).toMatchObject({
      resourceType: "note",
      resourceId: id,
      actor: { id: tenant.userId },
      requestId,
    });
    expect(inserted.changes).toMatchObject({
      name: { old: null, new: "first" },
      description: { old: null, new: "one" },
    });
    expect(updated.changes).toEqual({ name: { old: "first", new: "renamed" } });
    expect(deleted.changes).toMatchObject({ name: { old: "renamed", new: null } });
    // Timestamps are left out of the recorded changes.
    expect(Object.keys(inserted.changes ?? {})).not.toContain("updated_at");
  });

  it("records changes made with raw SQL in a tenant transaction", async () => {
    const tenant = await ctx.newTenant();
    await ctx.database
      .forTenant({ tenantId: tenant.tenant.id, userId: tenant.userId, requestId: "raw-sql" })
      .transaction((db) => db.execute(sql`update tenants set name = 'Renamed by SQL'`));
    const { items } = await entries(tenant, "?action=tenant.updated");
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      requestId: "raw-sql",
      changes: { name: { new: "Renamed by SQL" } },
    });
  });

  it("records role changes and member role assignments", async () => {
    const tenant = await ctx.newTenant();
    const role = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/roles",
      headers: tenant.headers,
      payload: { name: "Editors", permissions: ["notes:*"] },
    });
    expect(role.statusCode).toBe(201);
    const { items } = await entries(tenant);
    const actions = items.map((entry) => entry.action);
    expect(actions).toContain("role.created");
    expect(actions).toContain("role_permission.created");
  });
});

describe("events", () => {
  it("records sign-in with the client's IP and user agent", async () => {
    const user = await register(ctx.app);
    const response = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { email: user.email, password: PASSWORD },
      remoteAddress: "10.9.8.7",
      headers: { "user-agent": "audit-test/1.0" },
    });
    expect(response.statusCode).toBe(200);
    const { items } = await entries(user, "?action=auth.login");
    expect(items[0]).toMatchObject({
      resourceType: "session",
      actor: { id: user.body.user.id, email: user.email },
      ip: "10.9.8.7",
      userAgent: "audit-test/1.0",
    });
    expect(JSON.stringify(items)).not.toContain(PASSWORD);
  });
});

describe("reading", () => {
  it("filters, pages, and never shows another tenant's rows", async () => {
    const a = await ctx.newTenant();
    const b = await ctx.newTenant();
    for (let i = 0; i < 3; i++) {
      await ctx.app.inject({
        method: "POST",
        url: "/api/v1/notes",
        headers: a.headers,
        payload: { name: `a${i}` },
      });
    }
    await ctx.app.inject({
      method: "POST",
      url: "/api/v1/notes",
      headers: b.headers,
      payload: { name: "b" },
    });
    const first = await entries(a, "?action=note.created&limit=2");
    expect(first.items).toHaveLength(2);
    const second = await entries(a, `?action=note.created&limit=2&cursor=${first.nextCursor}`);
    expect(second.items).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    const all = [...first.items, ...second.items];
    expect(all.every((entry) => entry.actor?.id === a.userId)).toBe(true);
    expect((await entries(b, "?action=note.created")).items).toHaveLength(1);
    expectProblem(
      await ctx.app.inject({ url: "/api/v1/audit-logs?cursor=nonsense", headers: a.headers }),
      "validation-failed",
    );
  });
});

describe("append-only", () => {
  it("the tenant role can neither insert, update nor delete audit rows", async () => {
    const tenant: TestTenant = await ctx.newTenant();
    await ctx.app.inject({
      method: "POST",
      url: "/api/v1/notes",
      headers: tenant.headers,
      payload: { name: "x" },
    });
    const scoped = ctx.database.forTenant({ tenantId: tenant.tenant.id, userId: tenant.userId });
    for (const statement of [
      sql`update audit_logs set action = 'forged'`,
      sql`delete from audit_logs`,
    ]) {
      const error = await scoped
        .transaction((db) => db.execute(statement))
        .catch((caught: unknown) => caught);
      expect(String((error as { cause?: unknown }).cause ?? error)).toMatch(/permission denied/);
    }
    expect((await entries(tenant, "?action=note.created")).items).toHaveLength(1);
  });
});
