import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createItem } from "../../../helpers/factories.js";
import { expectProblem } from "../../../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext } from "../../../helpers/tenancy.js";

let ctx: TenancyTestContext;
beforeAll(async () => {
  ctx = await setupTenancyTest();
});
afterAll(() => ctx.close());

describe("items", () => {
  it("creates, reads, updates, lists and deletes an item", async () => {
    const { headers, userId } = await ctx.newTenant();
    const created = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/items",
      headers,
      payload: { name: "  Widget  ", description: "blue" },
    });
    expect(created.statusCode).toBe(201);
    const item = created.json();
    expect(item).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: "Widget",
      description: "blue",
      createdBy: userId,
      createdAt: expect.any(String),
      updatedAt: item.createdAt,
    });

    const read = await ctx.app.inject({ url: `/api/v1/items/${item.id}`, headers });
    expect(read.json()).toEqual(item);

    const updated = await ctx.app.inject({
      method: "PATCH",
      url: `/api/v1/items/${item.id}`,
      headers,
      payload: { description: null },
    });
    expect(updated.statusCode).toBe(200);
    expect(updated.json()).toMatchObject({ name: "Widget", description: null });
    expect(Date.parse(updated.json().updatedAt)).toBeGreaterThanOrEqual(Date.parse(item.updatedAt));

    const removed = await ctx.app.inject({
      method: "DELETE",
      url: `/api/v1/items/${item.id}`,
      headers,
    });
    expect(removed.statusCode).toBe(204);
    expect(removed.body).toBe("");
    const gone = await ctx.app.inject({ url: `/api/v1/items/${item.id}`, headers });
    expectProblem(gone, "not-found");
  });

  it("pages through a list newest first with an opaque cursor", async () => {
    const { headers, tenant } = await ctx.newTenant();
    for (let i = 1; i <= 5; i++) await createItem(ctx.database, tenant.id, { name: `n${i}` });
    const names: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/v1/items?limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await ctx.app.inject({ url, headers });
      expect(page.statusCode).toBe(200);
      const body = page.json() as { items: { name: string }[]; nextCursor: string | null };
      names.push(...body.items.map((item) => item.name));
      cursor = body.nextCursor;
      pages++;
    } while (cursor);
    expect(names).toEqual(["n5", "n4", "n3", "n2", "n1"]);
    expect(pages).toBe(3);
  });

  it("rejects a forged cursor, a bad limit, a bad id and an empty update with 422", async () => {
    const { headers, tenant } = await ctx.newTenant();
    const forged = await ctx.app.inject({ url: "/api/v1/items?cursor=bm9wZQ", headers });
    expect(expectProblem(forged, "validation-failed").errors).toEqual([
      { field: "cursor", message: "is not a cursor from this list" },
    ]);
    const limit = await ctx.app.inject({ url: "/api/v1/items?limit=101", headers });
    expect(expectProblem(limit, "validation-failed").errors?.[0]?.field).toBe("limit");
    const id = await ctx.app.inject({ url: "/api/v1/items/not-a-uuid", headers });
    expect(expectProblem(id, "validation-failed").errors?.[0]?.field).toBe("id");
    const item = await createItem(ctx.database, tenant.id);
    const empty = await ctx.app.inject({
      method: "PATCH",
      url: `/api/v1/items/${item.id}`,
      headers,
      payload: {},
    });
    expectProblem(empty, "validation-failed");
    const blank = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/items",
      headers,
      payload: { name: "   " },
    });
    expect(expectProblem(blank, "validation-failed").errors?.[0]?.field).toBe("name");
  });

  it("requires a token", async () => {
    const response = await ctx.app.inject({ url: "/api/v1/items" });
    expectProblem(response, "unauthorized");
  });
});
