import { randomUUID } from "node:crypto";
import { type SQL, sql } from "drizzle-orm";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Config, ConfigError } from "../../src/config.js";
import { type Database, openDatabase } from "../../src/core/database/index.js";
import { createLogger } from "../../src/core/logging/index.js";
import { notes } from "../fixtures/notes-module/notes.table.js";
import { productionTestConfig, testConfig } from "../helpers/app.js";
import {
  connectToTestDatabase,
  ensureLoginRole,
  type TestDatabaseClient,
  urlFor,
} from "../helpers/test-database.js";

/**
 * The second wall, on its own: PostgreSQL's row-level security, exercised with plain `pg` on a
 * migrated database and no application code at all, on `tenants` and on the notes fixture's
 * table (test/fixtures/notes-module/notes.sql), a tenant table as a module's migrations make
 * one. The rows are inserted by the connecting role (the superuser that owns the tables); every
 * check then switches to app_tenant the way the application does, with a transaction-local
 * `set_config('role', ...)`.
 *
 * Then the kit's own pools, logged in as production logs in (two non-superuser logins), against
 * what SQL injected into a tenant transaction could try: assume app_system, or leave a
 * temporary table behind for the next transactions on its connection.
 */

const A = randomUUID();
const B = randomUUID();
const SUSPENDED = randomUUID();
const aNotes = [randomUUID(), randomUUID(), randomUUID()];
const bNotes = [randomUUID(), randomUUID()];

let connection: TestDatabaseClient | undefined;
let client: pg.Client;

beforeAll(async () => {
  connection = await connectToTestDatabase();
  client = connection.client;
  await client.query(
    `insert into tenants (id, name, slug, status) values
       ($1, 'A', 'rls-a', 'active'), ($2, 'B', 'rls-b', 'active'), ($3, 'S', 'rls-s', 'suspended')`,
    [A, B, SUSPENDED],
  );
  for (const [tenant, ids] of [
    [A, aNotes],
    [B, bNotes],
  ] as const) {
    for (const id of ids) {
      await client.query("insert into notes (tenant_id, id, name) values ($1, $2, $3)", [
        tenant,
        id,
        `note ${id}`,
      ]);
    }
  }
});

afterAll(async () => {
  await connection?.close();
});

/** Runs `fn` in a transaction that is always rolled back. */
async function inTransaction<T>(fn: () => Promise<T>): Promise<T> {
  await client.query("begin");
  try {
    return await fn();
  } finally {
    await client.query("rollback");
  }
}

const asTenantRole = () => client.query("select set_config('role', 'app_tenant', true)");
const ENTER = "select app.enter_tenant($1::uuid, null, null)";
const enter = (tenant: string) => client.query(ENTER, [tenant]);

async function visible(): Promise<{ notes: string[]; tenants: string[] }> {
  const notes = await client.query<{ tenant_id: string }>("select tenant_id from notes");
  const tenants = await client.query<{ id: string }>("select id from tenants");
  return {
    notes: notes.rows.map((row) => row.tenant_id),
    tenants: tenants.rows.map((row) => row.id),
  };
}

/** The SQLSTATE and message a statement fails with. */
async function failure(
  text: string,
  values: unknown[] = [],
): Promise<{ code?: string; message: string }> {
  const error = await client.query(text, values).then(
    () => undefined,
    (caught: unknown) => caught as { code?: string; message: string },
  );
  expect(error, `expected to fail: ${text}`).toBeDefined();
  return { code: error?.code, message: error?.message ?? "" };
}

describe("row-level security as app_tenant", () => {
  it("the owner sees every row (the rows exist)", async () => {
    const all = await visible();
    expect(all.notes).toHaveLength(5);
    expect(all.tenants).toHaveLength(3);
  });

  it("sees no rows of notes or tenants when no tenant is set", async () => {
    await inTransaction(async () => {
      await asTenantRole();
      const { rows } = await client.query<{ role: string }>("select current_user as role");
      expect(rows[0]?.role).toBe("app_tenant");
      expect(await visible()).toEqual({ notes: [], tenants: [] });
    });
  });

  it("sees only the entered tenant's rows, and none after the setting is emptied", async () => {
    await inTransaction(async () => {
      await asTenantRole();
      await enter(A);
      const seen = await visible();
      expect(seen.notes).toEqual([A, A, A]);
      expect(seen.tenants).toEqual([A]);
      const byId = await client.query("select id from notes where id = any($1::uuid[])", [bNotes]);
      expect(byId.rowCount).toBe(0);

      // The pitfall: after a set_config the setting reads '' rather than NULL.
      await client.query("select set_config('app.tenant_id', '', true)");
      expect(await visible()).toEqual({ notes: [], tenants: [] });
    });
  });

  it("refuses to insert a row into another tenant (42501)", async () => {
    await inTransaction(async () => {
      await asTenantRole();
      await enter(A);
      const error = await failure("insert into notes (tenant_id, id, name) values ($1, $2, 'x')", [
        B,
        randomUUID(),
      ]);
      expect(error.code).toBe("42501");
      expect(error.message).toMatch(/new row violates row-level security policy/);
    });
  });

  it("may rename its own tenant but not change its plan or status (42501)", async () => {
    await inTransaction(async () => {
      await asTenantRole();
      await enter(A);
      const renamed = await client.query("update tenants set name = 'Renamed' where id = $1", [A]);
      expect(renamed.rowCount).toBe(1);
      for (const column of ["plan = 'enterprise'", "status = 'suspended'"]) {
        await client.query("savepoint attempt");
        const error = await failure(`update tenants set ${column} where id = $1`, [A]);
        expect(error.code).toBe("42501");
        expect(error.message).toMatch(/permission denied/);
        await client.query("rollback to savepoint attempt");
      }
    });
  });

  it("refuses to move a row to another tenant (42501)", async () => {
    await inTransaction(async () => {
      await asTenantRole();
      await enter(A);
      const error = await failure("update notes set tenant_id = $1 where id = $2", [B, aNotes[0]]);
      expect(error.code).toBe("42501");
      expect(error.message).toMatch(/new row violates row-level security policy/);
    });
    const { rows } = await client.query("select tenant_id from notes where id = $1", [aNotes[0]]);
    expect(rows[0]?.tenant_id).toBe(A);
  });

  it("cannot update or delete another tenant's rows: they are simply not there", async () => {
    await inTransaction(async () => {
      await asTenantRole();
      await enter(A);
      const updated = await client.query(
        "update notes set name = 'hijacked' where tenant_id = $1",
        [B],
      );
      expect(updated.rowCount).toBe(0);
      const deleted = await client.query("delete from notes where id = any($1::uuid[])", [bNotes]);
      expect(deleted.rowCount).toBe(0);
      const renamed = await client.query("update tenants set name = 'hijacked' where id = $1", [B]);
      expect(renamed.rowCount).toBe(0);
    });
    const { rows } = await client.query(
      "select count(*)::int as n from notes where tenant_id = $1 and name <> 'hijacked'",
      [B],
    );
    expect(rows[0]?.n).toBe(2);
  });

  it("enter_tenant raises KT001 for a missing tenant and KT002 for a suspended one", async () => {
    await inTransaction(async () => {
      await asTenantRole();
      expect((await failure(ENTER, [randomUUID()])).code).toBe("KT001");
    });
    await inTransaction(async () => {
      await asTenantRole();
      const error = await failure(ENTER, [SUSPENDED]);
      expect(error.code).toBe("KT002");
    });
  });

  it("does not leak the tenant or the role past COMMIT on the same connection", async () => {
    await client.query("begin");
    await asTenantRole();
    await enter(A);
    expect((await visible()).notes).toHaveLength(3);
    await client.query("commit");

    const after = await client.query<{ tenant: string | null; role: string }>(
      "select current_setting('app.tenant_id', true) as tenant, current_user as role",
    );
    expect(["", null]).toContain(after.rows[0]?.tenant);
    expect(after.rows[0]?.role).not.toBe("app_tenant");

    await inTransaction(async () => {
      await asTenantRole();
      expect(await visible()).toEqual({ notes: [], tenants: [] });
    });
  });

  it("app_tenant is not granted app_system and cannot switch to it (42501)", async () => {
    const membership = await client.query<{ member: boolean; inherit: boolean }>(
      `select pg_has_role('app_tenant', 'app_system', 'MEMBER') as member, rolinherit as inherit
         from pg_roles where rolname = 'app_tenant'`,
    );
    expect(membership.rows[0]).toEqual({ member: false, inherit: false });
    // Whether a role switch is allowed depends on the *session* user's memberships, not the
    // current role's, so the session itself becomes app_tenant here (a superuser may). A login
    // granted both could switch from one to the other: hence the two pools below.
    await inTransaction(async () => {
      await client.query("set local session authorization app_tenant");
      const error = await failure("select set_config('role', 'app_system', true)");
      expect(error.code).toBe("42501");
      expect(error.message).toMatch(/permission denied to set role "app_system"/);
    });
  });
});

describe("the tenant policy and the primary key", () => {
  const TENANTS = 8;
  const PER_TENANT = 500;
  let bulkTenants: string[];

  beforeAll(async () => {
    bulkTenants = Array.from({ length: TENANTS }, () => randomUUID());
    await client.query(
      `insert into tenants (id, name, slug)
         select t, 'bulk', 'bulk-' || t from unnest($1::uuid[]) as t`,
      [bulkTenants],
    );
    await client.query(
      `insert into notes (tenant_id, id, name)
         select t, gen_random_uuid(), 'bulk ' || n
           from unnest($1::uuid[]) as t, generate_series(1, $2::int) as n`,
      [bulkTenants, PER_TENANT],
    );
    await client.query("analyze notes");
    await client.query("analyze tenants");
  });

  interface PlanNode {
    "Node Type": string;
    "Parent Relationship"?: string;
    "Index Name"?: string;
    "Relation Name"?: string;
    Plans?: PlanNode[];
  }
  const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

  async function planNodes(text: string, values: unknown[] = []): Promise<PlanNode[]> {
    const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(text, values);
    const plan = rows[0]?.["QUERY PLAN"][0]?.Plan;
    expect(plan).toBeDefined();
    return nodesOf(plan as PlanNode);
  }

  const expectPrimaryKeyLookup = (nodes: PlanNode[]) => {
    expect(nodes.map((node) => node["Node Type"])).not.toContain("Seq Scan");
    expect(nodes).toContainEqual(
      expect.objectContaining({
        "Node Type": expect.stringMatching(/^Index (Only )?Scan$/),
        "Index Name": "notes_pkey",
        "Relation Name": "notes",
      }),
    );
  };

  it("a lookup by (tenant_id, id) as app_tenant uses an index scan on notes_pkey", async () => {
    const tenant = bulkTenants[3] as string;
    const { rows } = await client.query<{ id: string }>(
      "select id from notes where tenant_id = $1 limit 1 offset 250",
      [tenant],
    );
    const id = rows[0]?.id as string;
    await inTransaction(async () => {
      await asTenantRole();
      await enter(tenant);
      const nodes = await planNodes(
        "explain (format json) select * from notes where tenant_id = $1 and id = $2",
        [tenant, id],
      );
      expectPrimaryKeyLookup(nodes);
      // And the lookup finds the row.
      const found = await client.query("select * from notes where tenant_id = $1 and id = $2", [
        tenant,
        id,
      ]);
      expect(found.rowCount).toBe(1);
    });
  });

  it("so does the generic plan a named prepared statement falls back to", async () => {
    const tenant = bulkTenants[5] as string;
    await inTransaction(async () => {
      await asTenantRole();
      await enter(tenant);
      await client.query("set local plan_cache_mode = force_generic_plan");
      await client.query(
        "prepare rls_lookup(uuid, uuid) as select * from notes where tenant_id = $1 and id = $2",
      );
      try {
        const nodes = await planNodes(
          `explain (format json) execute rls_lookup('${tenant}', '${randomUUID()}')`,
        );
        expectPrimaryKeyLookup(nodes);
      } finally {
        await client.query("deallocate rls_lookup");
      }
    });
  });

  it("a lookup that forgets tenant_id still uses notes_pkey, with the policy's tenant", async () => {
    const tenant = bulkTenants[2] as string;
    await inTransaction(async () => {
      await asTenantRole();
      await enter(tenant);
      const nodes = await planNodes("explain (format json) select * from notes where id = $1", [
        randomUUID(),
      ]);
      expectPrimaryKeyLookup(nodes);
    });
  });

  it("the policy reads the tenant once per statement (an InitPlan), even in a sequential scan", async () => {
    const tenant = bulkTenants[6] as string;
    await inTransaction(async () => {
      await client.query("set local enable_indexscan = off");
      await client.query("set local enable_bitmapscan = off");
      await asTenantRole();
      await enter(tenant);
      const nodes = await planNodes("explain (format json) select count(*) from notes");
      expect(nodes.map((node) => node["Node Type"])).toContain("Seq Scan");
      expect(nodes.map((node) => node["Parent Relationship"])).toContain("InitPlan");
      const { rows } = await client.query<{ n: number }>("select count(*)::int as n from notes");
      expect(rows[0]?.n).toBe(PER_TENANT);
    });
  });
});

/** A configuration of the kit for this file's database; `env` changes any part of it. */
const kitConfig = (env: Record<string, string | undefined>): Config =>
  testConfig({ DATABASE_URL: connection?.database.tenantUrl, ...env });

/** The SQLSTATE and message a kit statement fails with. */
async function kitFailure(run: Promise<unknown>): Promise<{ code?: string; message: string }> {
  const error = await run.then(
    () => undefined,
    (caught: unknown) => caught as { code?: string; message: string; cause?: unknown },
  );
  expect(error, "expected the statement to fail").toBeDefined();
  const cause = (error as { cause?: { code?: string; message: string } }).cause ?? error;
  return { code: cause?.code, message: cause?.message ?? "" };
}

describe("the kit's two pools, as production logs in", () => {
  let database: Database;

  beforeAll(async () => {
    const config = kitConfig({ DATABASE_SYSTEM_URL: connection?.database.systemUrl });
    database = await openDatabase(config, createLogger(config));
  });

  afterAll(async () => {
    await database?.close();
  });

  /** Runs `statement` inside a tenant transaction of A on the tenant pool. */
  const inTenantA = (statement: SQL) =>
    database.forTenant({ tenantId: A }).transaction((tx) => tx.execute(statement));

  it("the tenant pool logs in as a non-superuser and runs tenant work as app_tenant", async () => {
    const result = (await inTenantA(
      sql`select session_user as login, current_user as role,
                 (select rolsuper from pg_roles where rolname = session_user) as superuser`,
    )) as unknown as { rows: { login: string; role: string; superuser: boolean }[] };
    expect(result.rows).toEqual([
      { login: "kit_test_tenant", role: "app_tenant", superuser: false },
    ]);
  });

  it("inside a tenant transaction, set_config('role', 'app_system', true) is refused (42501)", async () => {
    const error = await kitFailure(inTenantA(sql`select set_config('role', 'app_system', true)`));
    expect(error.code).toBe("42501");
    expect(error.message).toMatch(/permission denied to set role "app_system"/);
  });

  it("inside a tenant transaction, SET LOCAL ROLE app_system is refused (42501)", async () => {
    const error = await kitFailure(inTenantA(sql`set local role app_system`));
    expect(error.code).toBe("42501");
    expect(error.message).toMatch(/permission denied to set role "app_system"/);
  });

  it("RESET ROLE leads back to a login that may read no table and still not become app_system", async () => {
    const read = await kitFailure(
      database.forTenant({ tenantId: A }).transaction(async (tx) => {
        await tx.execute(sql`reset role`);
        return tx.execute(sql`select count(*) from notes`);
      }),
    );
    expect(read.code).toBe("42501");
    expect(read.message).toMatch(/permission denied for table notes/);
    const switched = await kitFailure(
      database.forTenant({ tenantId: A }).transaction(async (tx) => {
        await tx.execute(sql`reset role`);
        return tx.execute(sql`set local role app_system`);
      }),
    );
    expect(switched.code).toBe("42501");
  });

  it("a tenant transaction cannot leave a temporary table to shadow a kit table (42501)", async () => {
    const error = await kitFailure(inTenantA(sql`create temporary table notes (id uuid)`));
    expect(error.code).toBe("42501");
    expect(error.message).toMatch(/permission denied to create temporary tables/);
  });

  it("the system pool still works: bypassTenantIsolation runs as app_system and sees every tenant", async () => {
    const seen = await database.bypassTenantIsolation("test: system pool", async (tx) => {
      const who = (await tx.execute(
        sql`select session_user as login, current_user as role`,
      )) as unknown as { rows: { login: string; role: string }[] };
      const rows = await tx.select({ tenantId: notes.tenantId }).from(notes);
      return { who: who.rows[0], tenants: new Set(rows.map((row) => row.tenantId)) };
    });
    expect(seen.who).toEqual({ login: "kit_test_system", role: "app_system" });
    expect(seen.tenants.has(A) && seen.tenants.has(B)).toBe(true);
  });
});

describe("production refuses logins that would let tenant traffic leave its tenant", () => {
  const BOTH = "kit_test_tenant_and_system";
  const NEITHER = "kit_test_no_group";

  beforeAll(async () => {
    await ensureLoginRole(BOTH, ["app_tenant_login", "app_system_login"]);
    await ensureLoginRole(NEITHER, []);
  });

  /** The problems openDatabase refuses `env` with, or [] when it opens. */
  async function refusal(env: Record<string, string | undefined>): Promise<readonly string[]> {
    const config = productionTestConfig(env);
    try {
      const database = await openDatabase(config, createLogger(config));
      await database.close();
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
  }

  const name = () => connection?.database.name as string;

  it("opens with a tenant login that can assume app_tenant only and a system login", async () => {
    expect(
      await refusal({
        DATABASE_URL: connection?.database.tenantUrl,
        DATABASE_SYSTEM_URL: connection?.database.systemUrl,
      }),
    ).toEqual([]);
  });

  it("refuses a superuser as the tenant login", async () => {
    const problems = await refusal({
      DATABASE_URL: connection?.database.url,
      DATABASE_SYSTEM_URL: connection?.database.systemUrl,
    });
    expect(problems).toEqual([
      expect.stringMatching(/DATABASE_URL's login "[^"]+" is a superuser/),
    ]);
  });

  it("refuses a tenant login that can also assume app_system", async () => {
    const problems = await refusal({
      DATABASE_URL: urlFor(name(), BOTH),
      DATABASE_SYSTEM_URL: connection?.database.systemUrl,
    });
    expect(problems).toEqual([
      expect.stringMatching(new RegExp(`"${BOTH}" can assume app_system`)),
    ]);
  });

  it("refuses a system login that cannot assume app_system, and a tenant login that cannot enter", async () => {
    const problems = await refusal({
      DATABASE_URL: urlFor(name(), NEITHER),
      DATABASE_SYSTEM_URL: urlFor(name(), NEITHER.replace("no_group", "tenant")),
    });
    expect(problems).toEqual([
      expect.stringMatching(/"kit_test_no_group" cannot assume app_tenant/),
      expect.stringMatching(/"kit_test_no_group" may not execute app.enter_tenant/),
      expect.stringMatching(
        /DATABASE_SYSTEM_URL's login "kit_test_tenant" cannot assume app_system/,
      ),
    ]);
  });
});
