import { performance } from "node:perf_hooks";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectProblem } from "../helpers/problems.js";
import { setupTenancyTest, type TenancyTestContext, type TestTenant } from "../helpers/tenancy.js";

/**
 * A tenant whose statements hang (here: its note is locked by another session) must not take
 * the pool from the others, and its own requests must end with a 503, not hang.
 */
describe("a slow database for one tenant", () => {
  let ctx: TenancyTestContext;
  let owner: pg.Client;
  beforeAll(async () => {
    ctx = await setupTenancyTest({
      DATABASE_POOL_SIZE: "4",
      DATABASE_TENANT_CONNECTIONS: "2",
      DATABASE_STATEMENT_TIMEOUT_MS: "1000",
    });
    owner = new pg.Client({ connectionString: ctx.testDatabase.url });
    await owner.connect();
  });
  afterAll(async () => {
    await owner?.end();
    await ctx?.close();
  });

  const createNote = async (tenant: TestTenant, name: string) => {
    const created = await ctx.app.inject({
      method: "POST",
      url: "/api/v1/notes",
      headers: tenant.headers,
      payload: { name },
    });
    expect(created.statusCode, created.body).toBe(201);
    return created.json<{ id: string }>().id;
  };

  it("cancels the statement at DATABASE_STATEMENT_TIMEOUT_MS and keeps a connection for the others", async () => {
    const slow = await ctx.newTenant();
    const quiet = await ctx.newTenant();
    const locked = await createNote(slow, "before");
    const readable = await createNote(quiet, "quiet");

    await owner.query("begin");
    await owner.query("select id from notes where id = $1 for update", [locked]);
    try {
      // Twice the pool: without the per-tenant cap these would hold every connection.
      const updates = Array.from({ length: 8 }, (_, n) =>
        ctx.app.inject({
          method: "PATCH",
          url: `/api/v1/notes/${locked}`,
          headers: slow.headers,
          payload: { name: `after ${n}` },
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const startedAt = performance.now();
      const read = await ctx.app.inject({
        url: `/api/v1/notes/${readable}`,
        headers: quiet.headers,
      });
      const elapsed = performance.now() - startedAt;
      expect(read.statusCode).toBe(200);
      // The statements of the slow tenant wait 1 s each; the other tenant does not queue behind.
      expect(elapsed).toBeLessThan(500);

      for (const answer of await Promise.all(updates)) {
        expectProblem(answer, "service-unavailable");
        expect(answer.headers["retry-after"]).toBeDefined();
      }
    } finally {
      await owner.query("rollback");
    }
    // Nothing changed, and the tenant is served again once the lock is gone.
    const after = await ctx.app.inject({ url: `/api/v1/notes/${locked}`, headers: slow.headers });
    expect(after.json()).toMatchObject({ name: "before" });
  });
});
