import { randomUUID } from "node:crypto";
import type { InjectOptions } from "fastify";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setupTenancyTest, type TenancyTestContext, type TestTenant } from "../helpers/tenancy.js";

/**
 * Database round trips per request, counted at the protocol level. pg_stat_statements is not
 * preloaded on the test server, and the Database does not expose its pool, so every
 * ReadyForQuery a pg client receives is counted instead: the server sends exactly one per Sync
 * (extended protocol) or per simple query, i.e. one per round trip.
 *
 * pg binds `_handleReadyForQuery` to each client when it connects, so the prototype is patched
 * before any app exists and counts only while a measurement runs. Each measurement first warms
 * the pool (a new connection's start-up also ends in a ReadyForQuery); sequential requests then
 * reuse the same idle client. A failed statement answers its request before its ReadyForQuery
 * arrives, so a measurement also counts the Syncs and simple queries sent and waits until each
 * has had its ReadyForQuery.
 *
 * The tenant-scoped routes measured are the notes fixture's (test/fixtures/notes-module/): a
 * module's statements, run through the kit's tenant transactions and read pipeline as any
 * module's are.
 */

interface ClientInternals {
  _connecting: boolean;
  connectionParameters: { application_name?: string };
  _handleReadyForQuery(this: ClientInternals, message: unknown): void;
  connection: { parsedStatements: Record<string, string | undefined> };
}
interface ConnectionInternals {
  parse(this: ConnectionInternals, query: { name?: string; text: string }, more?: boolean): void;
  sync(this: ConnectionInternals): void;
  query(this: ConnectionInternals, text: string): void;
}

const clientPrototype = pg.Client.prototype as unknown as ClientInternals;
const connectionPrototype = (pg as unknown as { Connection: { prototype: ConnectionInternals } })
  .Connection.prototype;
const originalReadyForQuery = clientPrototype._handleReadyForQuery;
const originalParse = connectionPrototype.parse;
const originalSync = connectionPrototype.sync;
const originalQuery = connectionPrototype.query;

let measuring = false;
let readyForQuery = 0;
/** Syncs and simple queries sent: each gets exactly one ReadyForQuery. */
let sent = 0;
let parses: string[] = [];
/** The clients that answered while measuring: the app's pool clients. */
const clientsSeen = new Set<ClientInternals>();

function installProbes() {
  clientPrototype._handleReadyForQuery = function (message) {
    // The ReadyForQuery that ends a connection's start-up is not a statement's round trip.
    if (measuring && !this._connecting) {
      readyForQuery++;
      clientsSeen.add(this);
    }
    return originalReadyForQuery.call(this, message);
  };
  connectionPrototype.parse = function (query, more) {
    if (measuring) parses.push(query.name ?? "");
    return originalParse.call(this, query, more);
  };
  connectionPrototype.sync = function () {
    if (measuring) sent++;
    return originalSync.call(this);
  };
  connectionPrototype.query = function (text) {
    if (measuring) sent++;
    return originalQuery.call(this, text);
  };
}

function removeProbes() {
  clientPrototype._handleReadyForQuery = originalReadyForQuery;
  connectionPrototype.parse = originalParse;
  connectionPrototype.sync = originalSync;
  connectionPrototype.query = originalQuery;
}

/** Runs `fn` with the counters on; returns the round trips and the Parse messages it caused. */
async function measure(fn: () => Promise<void>): Promise<{ roundTrips: number; parses: string[] }> {
  readyForQuery = 0;
  sent = 0;
  parses = [];
  measuring = true;
  try {
    await fn();
    const deadline = Date.now() + 2_000;
    while (readyForQuery < sent && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(readyForQuery, "every Sync and query got its ReadyForQuery").toBe(sent);
  } finally {
    measuring = false;
  }
  return { roundTrips: readyForQuery, parses };
}

/** Names of the statements prepared on the clients seen so far (forgotten ones excluded). */
function preparedNames(): string[] {
  return [...clientsSeen].flatMap((client) =>
    Object.entries(client.connection.parsedStatements)
      .filter(([, text]) => text !== undefined)
      .map(([name]) => name),
  );
}

let ctx: TenancyTestContext;
let tenant: TestTenant;

beforeAll(async () => {
  installProbes();
  ctx = await setupTenancyTest();
  tenant = await ctx.newTenant();
});

afterAll(async () => {
  await ctx?.close();
  removeProbes();
});

async function request(app: TenancyTestContext, options: InjectOptions, who = tenant) {
  const response = await app.app.inject({
    ...options,
    headers: { ...who.headers, ...options.headers },
  });
  expect(response.statusCode, response.body).toBeLessThan(300);
  return response;
}

async function createNote(app = ctx, who = tenant): Promise<string> {
  const response = await request(
    app,
    { method: "POST", url: "/api/v1/notes", payload: { name: "counted" } },
    who,
  );
  return response.json<{ id: string }>().id;
}

describe("database round trips per request", () => {
  let noteId: string;

  beforeAll(async () => {
    // Warm-up: opens the pool's connection, prepares every statement used below once and
    // fills whatever per-tenant cache the request path keeps.
    noteId = await createNote();
    await request(ctx, { url: `/api/v1/notes/${noteId}` });
    await request(ctx, { url: "/api/v1/notes" });
    await request(ctx, { url: "/api/v1/tenants/current" });
  });

  it.each([
    {
      route: "GET /api/v1/notes/:id",
      today: 1,
      most: 1,
      options: () => ({ url: `/api/v1/notes/${noteId}` }),
    },
    { route: "GET /api/v1/notes", today: 1, most: 1, options: () => ({ url: "/api/v1/notes" }) },
    {
      route: "GET /api/v1/tenants/current",
      today: 1,
      most: 1,
      options: () => ({ url: "/api/v1/tenants/current" }),
    },
    {
      route: "PATCH /api/v1/notes/:id",
      today: 1,
      most: 2,
      options: () => ({
        method: "PATCH",
        url: `/api/v1/notes/${noteId}`,
        payload: { name: "renamed" },
      }),
    },
  ] as const)(
    "$route takes $today round trip (at most $most)",
    async ({ options, today, most }) => {
      const { roundTrips } = await measure(async () => {
        await request(ctx, options() as InjectOptions);
      });
      expect(roundTrips).toBeLessThanOrEqual(most);
      expect(roundTrips).toBe(today);
    },
  );

  it("POST /api/v1/notes takes 1 round trip (at most 2)", async () => {
    const { roundTrips } = await measure(async () => {
      await createNote();
    });
    expect(roundTrips).toBeLessThanOrEqual(2);
    expect(roundTrips).toBe(1);
  });

  it("DELETE /api/v1/notes/:id takes 1 round trip (at most 2)", async () => {
    const doomed = await createNote();
    const { roundTrips } = await measure(async () => {
      await request(ctx, { method: "DELETE", url: `/api/v1/notes/${doomed}` });
    });
    expect(roundTrips).toBeLessThanOrEqual(2);
    expect(roundTrips).toBe(1);
  });

  it("a token for a missing tenant is refused by the session check in a single round trip", async () => {
    const missing = await ctx.tokens.signAccessToken({
      sub: tenant.userId,
      tid: randomUUID(),
      sid: tenant.sessionId,
    });
    const { roundTrips } = await measure(async () => {
      const response = await ctx.app.inject({
        url: `/api/v1/notes/${noteId}`,
        headers: { authorization: `Bearer ${missing}` },
      });
      expect(response.statusCode).toBe(401);
    });
    expect(roundTrips).toBe(1);
  });

  it("the reads and their session check use the tenant login only, never the system pool", async () => {
    // A tenant neither the session guard nor the tenant cache has seen yet: its first read
    // checks the session and looks the tenant up too.
    const other = await ctx.newTenant();
    clientsSeen.clear();
    const { roundTrips } = await measure(async () => {
      await request(ctx, { url: "/api/v1/notes" }, other);
      await request(ctx, { url: `/api/v1/notes/${noteId}` });
    });
    expect(roundTrips).toBeGreaterThanOrEqual(3);
    const pools = [...clientsSeen].map((client) => client.connectionParameters.application_name);
    // The tenant pool (the session check) and the tenant login's read pipeline (the reads).
    expect(new Set(pools)).toEqual(new Set(["agency-kit", "agency-kit-reads"]));
  });
});

describe("prepared statements on the hot path", () => {
  it("named statements are prepared once per connection and reused", async () => {
    const id = await createNote();
    clientsSeen.clear();
    const first = await measure(async () => {
      await request(ctx, { url: `/api/v1/notes/${id}` });
    });
    const second = await measure(async () => {
      await request(ctx, { url: `/api/v1/notes/${id}` });
    });
    expect(first.roundTrips).toBe(1);
    expect(second.roundTrips).toBe(1);
    // Both were prepared during the warm-up on this connection: no Parse at all now.
    expect(first.parses).toEqual([]);
    expect(second.parses).toEqual([]);

    expect(clientsSeen.size).toBe(1);
    const names = preparedNames();
    expect(names.some((name) => name.startsWith("notes_find_by_id_"))).toBe(true);
    expect(names.some((name) => name.startsWith("enter_tenant_"))).toBe(true);
  });

  it("a statement is parsed by name the first time a connection runs it", async () => {
    // A fresh app: its pool's connection has prepared nothing yet.
    const fresh = await setupTenancyTest();
    try {
      const who = await fresh.newTenant();
      const id = await createNote(fresh, who);
      clientsSeen.clear();
      const first = await measure(async () => {
        await request(fresh, { url: `/api/v1/notes/${id}` }, who);
      });
      expect(first.roundTrips).toBe(1);
      expect(first.parses).toHaveLength(1);
      expect(first.parses[0]).toMatch(/^notes_find_by_id_[0-9a-f]{16}$/);
      const second = await measure(async () => {
        await request(fresh, { url: `/api/v1/notes/${id}` }, who);
      });
      expect(second.parses).toEqual([]);
    } finally {
      await fresh.close();
    }
  });

  it("with DATABASE_PREPARED_STATEMENTS=false the GET works and nothing is prepared by name", async () => {
    const unnamed = await setupTenancyTest({ DATABASE_PREPARED_STATEMENTS: "false" });
    try {
      const who = await unnamed.newTenant();
      clientsSeen.clear();
      let id = "";
      const create = await measure(async () => {
        id = await createNote(unnamed, who);
      });
      const reads = await measure(async () => {
        for (let i = 0; i < 3; i++) {
          const response = await request(unnamed, { url: `/api/v1/notes/${id}` }, who);
          expect(response.json()).toMatchObject({ id, name: "counted" });
        }
      });
      expect(reads.roundTrips).toBe(3);
      // Every statement is parsed again each time, unnamed.
      expect(create.parses.every((name) => name === "")).toBe(true);
      expect(reads.parses).toEqual(["", "", "", "", "", ""]);
      expect(clientsSeen.size).toBeGreaterThan(0);
      expect(preparedNames()).toEqual([]);
    } finally {
      await unnamed.close();
    }
  });
});
