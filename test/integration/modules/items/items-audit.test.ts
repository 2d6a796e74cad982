import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setupTenancyTest, type TenancyTestContext } from "../../../helpers/tenancy.js";

/**
 * The items table's audit trigger (migration 0010): its changes reach the tenant's audit log as
 * item.created, .updated and .deleted. How the audit log records a row change is tested on the
 * notes fixture in test/integration/modules/audit/.
 */

let ctx: TenancyTestContext;
beforeAll(async () => {
  ctx = await setupTenancyTest();
});
afterAll(() => ctx?.close());

interface Entry {
  action: string;
  resourceType: string;
  resourceId: string | null;
  actor: { id: string } | null;
  changes: Record<string, { old: unknown; new: unknown }> | null;
  requestId: string | null;
}

describe("items in the audit log", () => {
  it("records create, update and delete with the changed fields, actor and request id", async () => {
    const tenant = await ctx.newTenant();
    const requestId = randomUUID();
    const created = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/items",
      headers: { ...tenant.headers, "x-request-id": requestId },
      payload: { name: "first", description: "one" },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ id: string }>().id;
    const updated = await ctx.app.inject({
      method: "PATCH",
      url: `/api/v1/items/${id}`,
      headers: tenant.headers,
      payload: { name: "renamed" },
    });
    expect(updated.statusCode, updated.body).toBe(200);
    const deleted = await ctx.app.inject({
      method: "DELETE",
      url: `/api/v1/items/${id}`,
      headers: tenant.headers,
    });
    expect(deleted.statusCode).toBe(204);

    const log = await ctx.app.inject({
      url: "/api/v1/audit-logs?resourceType=item",
      headers: tenant.headers,
    });
    expect(log.statusCode, log.body).toBe(200);
    const entries = log.json<{ items: Entry[] }>().items;
    expect(entries.map((entry) => [entry.action, entry.resourceId])).toEqual([
      ["item.deleted", id],
      ["item.updated", id],
      ["item.created", id],
    ]);
    const [removal, change, insertion] = entries as [Entry, Entry, Entry];
    expect(insertion).toMatchObject({ actor: { id: tenant.userId }, requestId });
    expect(insertion.changes).toMatchObject({
      name: { old: null, new: "first" },
      description: { old: null, new: "one" },
    });
    expect(change.changes).toEqual({ name: { old: "first", new: "renamed" } });
    expect(removal.changes).toMatchObject({ name: { old: "renamed", new: null } });
  });
});
