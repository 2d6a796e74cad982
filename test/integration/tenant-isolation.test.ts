import { randomUUID } from "node:crypto";
import { count, eq } from "drizzle-orm";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TenantRow, tenants } from "../../src/core/database/index.js";
import { type NoteRow, notes } from "../fixtures/notes-module/notes.table.js";
import { expectProblem } from "../helpers/problems.js";
import { allRoutes, loadRouteExpectations } from "../helpers/route-expectations.js";
import { setupTenancyTest, type TenancyTestContext, type TestTenant } from "../helpers/tenancy.js";

/**
 * Tenant isolation through the HTTP surface: with one tenant's token, nothing of another tenant
 * can be read, changed or deleted, and every failure looks exactly like a missing object. What
 * the API answers is checked against the rows themselves, read around the tenant isolation. The
 * tenant data is the notes fixture's (test/fixtures/notes-module/), so this holds for a project
 * without the items example as well.
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
  /** A valid request for the caller's own tenant; `noteId` names a note of that tenant. */
  readonly url: (noteId: string) => string;
  readonly payload?: Record<string, unknown>;
  readonly scope: "tenant" | "account";
}

/** Every module's signed-in routes (loadRouteExpectations), as requests to send. */
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

async function createNote(tenant: TestTenant, name: string) {
  const response = await send(tenant, "POST", "/api/v1/notes", { name, description: `${name}!` });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ id: string; name: string; description: string | null }>();
}

/** The row as stored, read around tenant isolation. */
function noteRow(id: string): Promise<NoteRow | undefined> {
  return ctx.database.bypassTenantIsolation("test: inspect a note", async (db) => {
    const [row] = await db.select().from(notes).where(eq(notes.id, id));
    return row as NoteRow | undefined;
  });
}

function tenantRow(id: string): Promise<TenantRow | undefined> {
  return ctx.database.bypassTenantIsolation("test: inspect a tenant", async (db) => {
    const [row] = await db.select().from(tenants).where(eq(tenants.id, id));
    return row as TenantRow | undefined;
  });
}

/** Note rows per tenant id, for every tenant in the database. */
function noteCounts(): Promise<Map<string, number>> {
  return ctx.database.bypassTenantIsolation("test: count notes", async (db) => {
    const rows = await db
      .select({ tenantId: notes.tenantId, n: count() })
      .from(notes)
      .groupBy(notes.tenantId);
    return new Map(rows.map((row) => [row.tenantId, Number(row.n)]));
  });
}

function allNotes(): Promise<NoteRow[]> {
  return ctx.database.bypassTenantIsolation("test: snapshot notes", async (db) =>
    db.select().from(notes).orderBy(notes.tenantId, notes.id),
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

describe("another tenant's notes", () => {
  let a: TestTenant;
  let b: TestTenant;
  let aNotes: { id: string; name: string }[];

  beforeAll(async () => {
    a = await ctx.newTenant("Tenant A");
    b = await ctx.newTenant("Tenant B");
    aNotes = [await createNote(a, "a-1"), await createNote(a, "a-2")];
    await createNote(b, "b-1");
  });

  const crossTenant = tenantRoutes.filter((route) => route.route === "/api/v1/notes/{id}");

  it.each(crossTenant.map((route) => [label(route), route] as const))(
    "%s with B's token answers 404 like a missing note and changes nothing",
    async (_, route) => {
      const target = aNotes[0]?.id as string;
      const rowBefore = await noteRow(target);
      const countsBefore = await noteCounts();
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

      expect(await noteRow(target)).toEqual(rowBefore);
      expect(await noteCounts()).toEqual(countsBefore);
      const own = await send(a, "GET", `/api/v1/notes/${target}`);
      expect(own.statusCode).toBe(200);
      expect(own.json()).toMatchObject({
        id: target,
        name: rowBefore?.name,
        description: rowBefore?.description,
        updatedAt: rowBefore?.updatedAt.toISOString(),
      });
    },
  );

  it("B's list never contains A's notes, on any page or with a cursor made from A's note", async () => {
    const response = await send(b, "GET", "/api/v1/notes?limit=100");
    expect(response.statusCode).toBe(200);
    const listed = response.json<{ items: { id: string }[] }>().items.map((note) => note.id);
    const bRows = (await allNotes()).filter((row) => row.tenantId === b.tenant.id);
    expect(new Set(listed)).toEqual(new Set(bRows.map((row) => row.id)));
    for (const note of aNotes) expect(listed).not.toContain(note.id);

    // A cursor is only an id: one made from A's newest note still pages through B's rows only.
    const newestOfA = aNotes.at(-1)?.id as string;
    const cursor = Buffer.from(`n1:${newestOfA}`).toString("base64url");
    const paged = await send(b, "GET", `/api/v1/notes?limit=100&cursor=${cursor}`);
    expect(paged.statusCode).toBe(200);
    const pagedIds = paged.json<{ items: { id: string }[] }>().items.map((note) => note.id);
    for (const id of pagedIds) expect(bRows.map((row) => row.id)).toContain(id);
    for (const note of aNotes) expect(pagedIds).not.toContain(note.id);

    // And A sees exactly its own.
    const own = await send(a, "GET", "/api/v1/notes?limit=100");
    expect(new Set(own.json<{ items: { id: string }[] }>().items.map((note) => note.id))).toEqual(
      new Set(aNotes.map((note) => note.id)),
    );
  });

  it("B's POST creates the note in B, never in A", async () => {
    const countsBefore = await noteCounts();
    const created = await createNote(b, "b-new");
    const row = await noteRow(created.id);
    expect(row?.tenantId).toBe(b.tenant.id);
    expect(row?.createdBy).toBe(b.userId);
    const countsAfter = await noteCounts();
    expect(countsAfter.get(a.tenant.id)).toBe(countsBefore.get(a.tenant.id));
    expect(countsAfter.get(b.tenant.id)).toBe((countsBefore.get(b.tenant.id) ?? 0) + 1);
  });
});

describe("a tenantId in a request body", () => {
  let a: TestTenant;
  let b: TestTenant;
  let aNoteId: string;

  beforeAll(async () => {
    a = await ctx.newTenant();
    b = await ctx.newTenant();
    aNoteId = (await createNote(a, "mine")).id;
  });

  const cases = () =>
    [
      [
        "POST /notes by A naming B",
        a,
        "POST",
        "/api/v1/notes",
        { name: "x", tenantId: b.tenant.id },
      ],
      [
        "POST /notes by B naming A",
        b,
        "POST",
        "/api/v1/notes",
        { name: "x", tenantId: a.tenant.id },
      ],
      [
        "POST /notes by A naming its own tenant",
        a,
        "POST",
        "/api/v1/notes",
        { name: "x", tenantId: a.tenant.id },
      ],
      [
        "PATCH A's note by A naming B",
        a,
        "PATCH",
        `/api/v1/notes/${aNoteId}`,
        { name: "moved", tenantId: b.tenant.id },
      ],
      [
        "PATCH A's note by B naming A",
        b,
        "PATCH",
        `/api/v1/notes/${aNoteId}`,
        { name: "stolen", tenantId: a.tenant.id },
      ],
      [
        "PATCH A's note with only a tenantId",
        a,
        "PATCH",
        `/api/v1/notes/${aNoteId}`,
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
      const notesBefore = await allNotes();
      const tenantsBefore = await allTenants();
      const response = await send(caller, method, url, payload);
      const problem = expectProblem(response, "validation-failed");
      expect(problem.errors, name).toContainEqual({
        field: "tenantId",
        message: expect.any(String),
      });
      expect(await allNotes(), name).toEqual(notesBefore);
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

  it("deleting a tenant removes all of its notes and nothing of any other tenant", async () => {
    const doomed = await ctx.newTenant("Doomed");
    const neighbour = await ctx.newTenant("Neighbour");
    const doomedNote = (await createNote(doomed, "d-1")).id;
    await createNote(doomed, "d-2");
    await createNote(doomed, "d-3");
    await createNote(neighbour, "n-1");
    await createNote(neighbour, "n-2");

    const countsBefore = await noteCounts();
    const notesBefore = await allNotes();
    const tenantsBefore = await allTenants();
    expect(countsBefore.get(doomed.tenant.id)).toBe(3);
    expect(countsBefore.get(neighbour.tenant.id)).toBe(2);

    const response = await send(doomed, "DELETE", "/api/v1/tenants/current");
    expect(response.statusCode, response.body).toBe(204);
    expect(response.body).toBe("");

    const countsAfter = await noteCounts();
    expect(countsAfter.has(doomed.tenant.id)).toBe(false);
    const expected = new Map(countsBefore);
    expected.delete(doomed.tenant.id);
    expect(countsAfter).toEqual(expected);
    expect(await allNotes()).toEqual(
      notesBefore.filter((row) => row.tenantId !== doomed.tenant.id),
    );
    expect(await allTenants()).toEqual(tenantsBefore.filter((row) => row.id !== doomed.tenant.id));

    // Its still-unexpired token now gets 401 everywhere, and writes nothing.
    for (const route of [...tenantRoutes, ...accountRoutes]) {
      const answer = await send(doomed, route.method, route.url(doomedNote), route.payload);
      expectProblem(answer, "unauthorized");
      expect(answer.headers["www-authenticate"], label(route)).toMatch(/^Bearer\b/);
    }
    expect(await noteCounts()).toEqual(expected);
    expect(await tenantRow(doomed.tenant.id)).toBeUndefined();
  });
});

describe("a suspended tenant", () => {
  it("gets 403 on every tenant route, writes included, and nothing is written", async () => {
    const suspended = await ctx.newTenant("Suspended Ltd");
    const noteId = (await createNote(suspended, "s-1")).id;
    await createNote(suspended, "s-2");
    await ctx.database.bypassTenantIsolation("test: suspend a tenant", (db) =>
      db.update(tenants).set({ status: "suspended" }).where(eq(tenants.id, suspended.tenant.id)),
    );
    const notesBefore = await allNotes();
    const tenantsBefore = await allTenants();
    expect(tenantsBefore.find((row) => row.id === suspended.tenant.id)?.status).toBe("suspended");

    for (const route of tenantRoutes) {
      const response = await send(suspended, route.method, route.url(noteId), route.payload);
      const problem = expectProblem(response, "forbidden");
      expect(problem.detail, label(route)).toMatch(/suspended/i);
      expect(response.body, label(route)).not.toContain("s-1");
    }

    expect(await allNotes()).toEqual(notesBefore);
    expect(await allTenants()).toEqual(tenantsBefore);
  });
});
