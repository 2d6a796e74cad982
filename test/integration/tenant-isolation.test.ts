import { randomUUID } from "node:crypto";
import { count, eq } from "drizzle-orm";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TenantRow, tenants } from "../../src/core/database/index.js";
import { type ItemRow, items } from "../../src/modules/items/items.table.js";
import { expectProblem } from "../helpers/problems.js";
import { allRoutes, loadRouteExpectations } from "../helpers/route-expectations.js";
import { setupTenancyTest, type TenancyTestContext, type TestTenant } from "../helpers/tenancy.js";

/**
 * Tenant isolation through the HTTP surface: with one tenant's token, nothing of another tenant
 * can be read, changed or deleted, and every failure looks exactly like a missing object. What
 * the API answers is checked against the rows themselves, read around the tenant isolation.
 */

let ctx: TenancyTestContext;
beforeAll(async () => {
  ctx = await setupTenancyTest();
});
afterAll(() => ctx.close());

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

interface RouteCase {
  readonly method: Method;
  /** The route as OpenAPI names it. */
  readonly route: string;
  /** A valid request for the caller's own tenant; `itemId` names an item of that tenant. */
  readonly url: (itemId: string) => string;
  readonly payload?: Record<string, unknown>;
  readonly scope: "tenant" | "account";
}

/** Every module's signed-in routes (test/integration/modules/<module>/), as requests to send. */
const routeCases: RouteCase[] = [...allRoutes(await loadRouteExpectations())].map(
  ([key, expectation]) => {
    const [method, route] = key.split(" ") as [Method, string];
    const { url, payload } = expectation.isolation ?? {};
    return {
      method,
      route,
      url: url ?? (() => route),
      ...(payload ? { payload } : {}),
      scope: expectation.scope,
    };
  },
);

/** Every tenant-scoped route, each with a request that would succeed for the right tenant. */
const tenantRoutes = routeCases.filter((route) => route.scope === "tenant");

/**
 * Every signed-in route that acts on the user rather than on tenant data. They need a live
 * session and membership in the token's tenant like any other (see "deleting a tenant").
 */
const accountRoutes = routeCases.filter((route) => route.scope === "account");

const label = (route: RouteCase) => `${route.method} ${route.route}`;

function send(
  tenant: TestTenant,
  method: Method,
  url: string,
  payload?: Record<string, unknown>,
): Promise<LightMyRequestResponse> {
  return ctx.app.inject({
    method,
    url,
    headers: tenant.headers,
    ...(payload ? { payload } : {}),
  });
}

async function createItem(tenant: TestTenant, name: string) {
  const response = await send(tenant, "POST", "/api/v1/items", { name, description: `${name}!` });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ id: string; name: string; description: string | null }>();
}

/** The row as stored, read around tenant isolation. */
function itemRow(id: string): Promise<ItemRow | undefined> {
  return ctx.database.bypassTenantIsolation("test: inspect an item", async (db) => {
    const [row] = await db.select().from(items).where(eq(items.id, id));
    return row as ItemRow | undefined;
  });
}

function tenantRow(id: string): Promise<TenantRow | undefined> {
  return ctx.database.bypassTenantIsolation("test: inspect a tenant", async (db) => {
    const [row] = await db.select().from(tenants).where(eq(tenants.id, id));
    return row as TenantRow | undefined;
  });
}

/** Item rows per tenant id, for every tenant in the database. */
function itemCounts(): Promise<Map<string, number>> {
  return ctx.database.bypassTenantIsolation("test: count items", async (db) => {
    const rows = await db
      .select({ tenantId: items.tenantId, n: count() })
      .from(items)
      .groupBy(items.tenantId);
    return new Map(rows.map((row) => [row.tenantId, Number(row.n)]));
  });
}

function allItems(): Promise<ItemRow[]> {
  return ctx.database.bypassTenantIsolation("test: snapshot items", async (db) =>
    db.select().from(items).orderBy(items.tenantId, items.id),
  );
}

function allTenants(): Promise<TenantRow[]> {
  return ctx.database.bypassTenantIsolation("test: snapshot tenants", async (db) =>
    db.select().from(tenants).orderBy(tenants.id),
  );
}

describe("the route table", () => {
  it("covers every signed-in route under /api/v1 that the API documents", async () => {
    const response = await ctx.app.inject({ url: "/openapi.json" });
    expect(response.statusCode).toBe(200);
    const paths = response.json<{
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    }>().paths;
    const documented = Object.entries(paths)
      .filter(([path]) => path.startsWith("/api/v1/"))
      .flatMap(([path, operations]) =>
        Object.entries(operations)
          .filter(
            ([method, operation]) =>
              ["get", "post", "put", "patch", "delete"].includes(method) &&
              (operation.security?.length ?? 0) > 0,
          )
          .map(([method]) => `${method.toUpperCase()} ${path}`),
      );
    // A new route fails here until its module's expectations name it (and so every check below
    // covers it).
    expect(new Set(documented)).toEqual(new Set([...tenantRoutes, ...accountRoutes].map(label)));
  });
});

describe("another tenant's items", () => {
  let a: TestTenant;
  let b: TestTenant;
  let aItems: { id: string; name: string }[];

  beforeAll(async () => {
    a = await ctx.newTenant("Tenant A");
    b = await ctx.newTenant("Tenant B");
    aItems = [await createItem(a, "a-1"), await createItem(a, "a-2")];
    await createItem(b, "b-1");
  });

  const crossTenant = tenantRoutes.filter((route) => route.route === "/api/v1/items/{id}");

  it.each(crossTenant.map((route) => [label(route), route] as const))(
    "%s with B's token answers 404 like a missing item and changes nothing",
    async (_, route) => {
      const target = aItems[0]?.id as string;
      const rowBefore = await itemRow(target);
      const countsBefore = await itemCounts();
      expect(rowBefore).toBeDefined();

      const response = await send(b, route.method, route.url(target), route.payload);
      const problem = expectProblem(response, "not-found", { instance: route.url(target) });

      // No existence oracle: the answer for an id that exists nowhere is the same.
      const missing = randomUUID();
      const control = await send(b, route.method, route.url(missing), route.payload);
      const controlProblem = expectProblem(control, "not-found");
      expect({ ...problem, instance: "", traceId: "" }).toEqual({
        ...controlProblem,
        instance: "",
        traceId: "",
      });

      expect(await itemRow(target)).toEqual(rowBefore);
      expect(await itemCounts()).toEqual(countsBefore);
      const own = await send(a, "GET", `/api/v1/items/${target}`);
      expect(own.statusCode).toBe(200);
      expect(own.json()).toMatchObject({
        id: target,
        name: rowBefore?.name,
        description: rowBefore?.description,
        updatedAt: rowBefore?.updatedAt.toISOString(),
      });
    },
  );

  it("B's list never contains A's items, on any page or with a cursor made from A's item", async () => {
    const response = await send(b, "GET", "/api/v1/items?limit=100");
    expect(response.statusCode).toBe(200);
    const listed = response.json<{ items: { id: string }[] }>().items.map((item) => item.id);
    const bRows = (await allItems()).filter((row) => row.tenantId === b.tenant.id);
    expect(new Set(listed)).toEqual(new Set(bRows.map((row) => row.id)));
    for (const item of aItems) expect(listed).not.toContain(item.id);

    // A cursor is only an id: one made from A's newest item still pages through B's rows only.
    const newestOfA = aItems.at(-1)?.id as string;
    const cursor = Buffer.from(`i1:${newestOfA}`).toString("base64url");
    const paged = await send(b, "GET", `/api/v1/items?limit=100&cursor=${cursor}`);
    expect(paged.statusCode).toBe(200);
    const pagedIds = paged.json<{ items: { id: string }[] }>().items.map((item) => item.id);
    for (const id of pagedIds) expect(bRows.map((row) => row.id)).toContain(id);
    for (const item of aItems) expect(pagedIds).not.toContain(item.id);

    // And A sees exactly its own.
    const own = await send(a, "GET", "/api/v1/items?limit=100");
    expect(new Set(own.json<{ items: { id: string }[] }>().items.map((item) => item.id))).toEqual(
      new Set(aItems.map((item) => item.id)),
    );
  });

  it("B's POST creates the item in B, never in A", async () => {
    const countsBefore = await itemCounts();
    const created = await createItem(b, "b-new");
    const row = await itemRow(created.id);
    expect(row?.tenantId).toBe(b.tenant.id);
    expect(row?.createdBy).toBe(b.userId);
    const countsAfter = await itemCounts();
    expect(countsAfter.get(a.tenant.id)).toBe(countsBefore.get(a.tenant.id));
    expect(countsAfter.get(b.tenant.id)).toBe((countsBefore.get(b.tenant.id) ?? 0) + 1);
  });
});

describe("a tenantId in a request body", () => {
  let a: TestTenant;
  let b: TestTenant;
  let aItemId: string;

  beforeAll(async () => {
    a = await ctx.newTenant();
    b = await ctx.newTenant();
    aItemId = (await createItem(a, "mine")).id;
  });

  const cases = () =>
    [
      [
        "POST /items by A naming B",
        a,
        "POST",
        "/api/v1/items",
        { name: "x", tenantId: b.tenant.id },
      ],
      [
        "POST /items by B naming A",
        b,
        "POST",
        "/api/v1/items",
        { name: "x", tenantId: a.tenant.id },
      ],
      [
        "POST /items by A naming its own tenant",
        a,
        "POST",
        "/api/v1/items",
        { name: "x", tenantId: a.tenant.id },
      ],
      [
        "PATCH A's item by A naming B",
        a,
        "PATCH",
        `/api/v1/items/${aItemId}`,
        { name: "moved", tenantId: b.tenant.id },
      ],
      [
        "PATCH A's item by B naming A",
        b,
        "PATCH",
        `/api/v1/items/${aItemId}`,
        { name: "stolen", tenantId: a.tenant.id },
      ],
      [
        "PATCH A's item with only a tenantId",
        a,
        "PATCH",
        `/api/v1/items/${aItemId}`,
        { tenantId: b.tenant.id },
      ],
      [
        "PATCH tenants/current by B naming A",
        b,
        "PATCH",
        "/api/v1/tenants/current",
        { name: "Taken", tenantId: a.tenant.id },
      ],
    ] as const;

  it("is refused with 422 naming the field, and nothing is created or changed", async () => {
    for (const [name, caller, method, url, payload] of cases()) {
      const itemsBefore = await allItems();
      const tenantsBefore = await allTenants();
      const response = await send(caller, method, url, payload);
      const problem = expectProblem(response, "validation-failed");
      expect(problem.errors, name).toContainEqual({
        field: "tenantId",
        message: expect.any(String),
      });
      expect(await allItems(), name).toEqual(itemsBefore);
      expect(await allTenants(), name).toEqual(tenantsBefore);
    }
  });
});

describe("tenants/current", () => {
  it("is the caller's own tenant, and B's rename touches only B", async () => {
    const a = await ctx.newTenant("Alpha Corp");
    const b = await ctx.newTenant("Beta Corp");
    const aBefore = await tenantRow(a.tenant.id);

    const current = await send(b, "GET", "/api/v1/tenants/current");
    expect(current.statusCode).toBe(200);
    expect(current.json()).toEqual({
      id: b.tenant.id,
      name: "Beta Corp",
      slug: b.tenant.slug,
      plan: b.tenant.plan,
      createdAt: b.tenant.createdAt.toISOString(),
    });

    const renamed = await send(b, "PATCH", "/api/v1/tenants/current", { name: "Beta Renamed" });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ id: b.tenant.id, name: "Beta Renamed" });
    expect((await tenantRow(b.tenant.id))?.name).toBe("Beta Renamed");
    expect(await tenantRow(a.tenant.id)).toEqual(aBefore);
    const aCurrent = await send(a, "GET", "/api/v1/tenants/current");
    expect(aCurrent.json()).toMatchObject({ id: a.tenant.id, name: "Alpha Corp" });
  });

  it("deleting a tenant removes all of its items and nothing of any other tenant", async () => {
    const doomed = await ctx.newTenant("Doomed");
    const neighbour = await ctx.newTenant("Neighbour");
    const doomedItem = (await createItem(doomed, "d-1")).id;
    await createItem(doomed, "d-2");
    await createItem(doomed, "d-3");
    await createItem(neighbour, "n-1");
    await createItem(neighbour, "n-2");

    const countsBefore = await itemCounts();
    const itemsBefore = await allItems();
    const tenantsBefore = await allTenants();
    expect(countsBefore.get(doomed.tenant.id)).toBe(3);
    expect(countsBefore.get(neighbour.tenant.id)).toBe(2);

    const response = await send(doomed, "DELETE", "/api/v1/tenants/current");
    expect(response.statusCode, response.body).toBe(204);
    expect(response.body).toBe("");

    const countsAfter = await itemCounts();
    expect(countsAfter.has(doomed.tenant.id)).toBe(false);
    const expected = new Map(countsBefore);
    expected.delete(doomed.tenant.id);
    expect(countsAfter).toEqual(expected);
    expect(await allItems()).toEqual(
      itemsBefore.filter((row) => row.tenantId !== doomed.tenant.id),
    );
    expect(await allTenants()).toEqual(tenantsBefore.filter((row) => row.id !== doomed.tenant.id));

    // Its still-unexpired token now gets 401 everywhere, and writes nothing.
    for (const route of [...tenantRoutes, ...accountRoutes]) {
      const answer = await send(doomed, route.method, route.url(doomedItem), route.payload);
      expectProblem(answer, "unauthorized");
      expect(answer.headers["www-authenticate"], label(route)).toMatch(/^Bearer\b/);
    }
    expect(await itemCounts()).toEqual(expected);
    expect(await tenantRow(doomed.tenant.id)).toBeUndefined();
  });
});

describe("a suspended tenant", () => {
  it("gets 403 on every tenant route, writes included, and nothing is written", async () => {
    const suspended = await ctx.newTenant("Suspended Ltd");
    const itemId = (await createItem(suspended, "s-1")).id;
    await createItem(suspended, "s-2");
    await ctx.database.bypassTenantIsolation("test: suspend a tenant", (db) =>
      db.update(tenants).set({ status: "suspended" }).where(eq(tenants.id, suspended.tenant.id)),
    );
    const itemsBefore = await allItems();
    const tenantsBefore = await allTenants();
    expect(tenantsBefore.find((row) => row.id === suspended.tenant.id)?.status).toBe("suspended");

    for (const route of tenantRoutes) {
      const response = await send(suspended, route.method, route.url(itemId), route.payload);
      const problem = expectProblem(response, "forbidden");
      expect(problem.detail, label(route)).toMatch(/suspended/i);
      expect(response.body, label(route)).not.toContain("s-1");
    }

    expect(await allItems()).toEqual(itemsBefore);
    expect(await allTenants()).toEqual(tenantsBefore);
  });
});
