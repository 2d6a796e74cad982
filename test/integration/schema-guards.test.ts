import { readFileSync } from "node:fs";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrationsFolder } from "../../src/core/database/migrations.js";
import { connectToTestDatabase, type TestDatabaseClient } from "../helpers/test-database.js";

/**
 * Guards read from the live catalog of a migrated database, so a table added by a future
 * migration is checked without anyone remembering to list it:
 * - every tenant table (a `tenant_id` column, plus `tenants` itself) has row-level security
 *   enabled AND forced, and an ALL policy with both USING and WITH CHECK on the current tenant;
 * - the Citus key rules: unique keys lead with tenant_id, foreign keys between tenant tables
 *   carry tenant_id;
 * - the tenant role can neither bypass row-level security nor own a table.
 * The last block breaks the schema on purpose (inside a rolled-back transaction of this file's
 * own database), on the notes fixture's table (test/fixtures/notes-module/notes.sql, a tenant
 * table as a module's migrations make one), and shows the same check functions catching it.
 */

type Queryable = Pick<pg.Client, "query">;

interface Offence {
  readonly table: string;
  readonly problem: string;
}

interface PolicyInfo {
  name: string;
  cmd: string;
  permissive: boolean;
  using: string | null;
  check: string | null;
  roles: string[];
}

/** Tables of schema public that are tenant tables: a tenant_id column, or tenants itself. */
const TENANT_TABLES_SQL = `
  select c.oid, c.relname as table, a.attnum as tenant_attnum
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_attribute a
      on a.attrelid = c.oid and a.attname = 'tenant_id' and a.attnum > 0 and not a.attisdropped
   where n.nspname = 'public' and c.relkind in ('r', 'p')
     and (a.attnum is not null or c.relname = 'tenants')`;

async function tenantTables(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ table: string }>(`${TENANT_TABLES_SQL} order by 2`);
  return rows.map((row) => row.table);
}

/** Tenant tables whose row-level security is missing, unforced or without a tenant policy. */
async function rowLevelSecurityOffences(db: Queryable): Promise<Offence[]> {
  const { rows } = await db.query<{
    table: string;
    enabled: boolean;
    forced: boolean;
    policies: PolicyInfo[];
  }>(`
    with tenant_tables as (${TENANT_TABLES_SQL})
    select t.table, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
           coalesce(
             json_agg(json_build_object(
               'name', p.polname,
               'cmd', p.polcmd,
               'permissive', p.polpermissive,
               'using', pg_get_expr(p.polqual, p.polrelid),
               'check', pg_get_expr(p.polwithcheck, p.polrelid),
               'roles', array(
                 select case when r = 0 then 'public' else pg_get_userbyid(r) end
                   from unnest(p.polroles) as r)
             )) filter (where p.oid is not null),
             '[]'::json) as policies
      from tenant_tables t
      join pg_class c on c.oid = t.oid
      left join pg_policy p on p.polrelid = c.oid
     group by t.table, c.relrowsecurity, c.relforcerowsecurity
     order by t.table`);
  const offences: Offence[] = [];
  for (const row of rows) {
    if (!row.enabled) offences.push({ table: row.table, problem: "row-level security disabled" });
    if (!row.forced) offences.push({ table: row.table, problem: "row-level security not forced" });
    const tenantPolicy = row.policies.some(
      (policy) =>
        policy.cmd === "*" &&
        policy.permissive &&
        policy.using?.includes("current_tenant_id()") &&
        policy.check?.includes("current_tenant_id()") &&
        policy.roles.some((role) => role === "public" || role === "app_tenant"),
    );
    if (!tenantPolicy) {
      offences.push({
        table: row.table,
        problem: "no ALL policy with USING and WITH CHECK on app.current_tenant_id()",
      });
    }
    // The function verifies the signed tenant context; called directly, a sequential scan
    // would call it for every row, where a sub-select is an InitPlan run once per statement.
    const perRow = row.policies.some((policy) =>
      [policy.using, policy.check].some(
        (expression) =>
          expression?.includes("current_tenant_id()") &&
          !expression.includes("( SELECT app.current_tenant_id()"),
      ),
    );
    if (perRow) {
      offences.push({
        table: row.table,
        problem:
          "a policy calls app.current_tenant_id() per row, not (SELECT app.current_tenant_id())",
      });
    }
  }
  return offences;
}

/**
 * The Citus rules: every primary key and unique index of a tenant table leads with tenant_id;
 * every foreign key from a tenant table to another tenant table pairs tenant_id with
 * tenant_id; a reference to `tenants` goes through the row's own tenant_id; a table without
 * tenant_id (a reference table) does not point at a tenant table.
 */
async function citusKeyOffences(db: Queryable): Promise<Offence[]> {
  const offences: Offence[] = [];
  const indexes = await db.query<{ table: string; index: string; leads: boolean }>(`
    with tenant_tables as (${TENANT_TABLES_SQL})
    select t.table, i.relname as index, x.indkey[0] = t.tenant_attnum as leads
      from tenant_tables t
      join pg_index x on x.indrelid = t.oid
      join pg_class i on i.oid = x.indexrelid
     where x.indisunique and t.tenant_attnum is not null
     order by 1, 2`);
  for (const row of indexes.rows) {
    if (!row.leads) {
      offences.push({
        table: row.table,
        problem: `unique index ${row.index} does not lead with tenant_id`,
      });
    }
  }

  const foreignKeys = await db.query<{
    name: string;
    table: string;
    referenced: string;
    columns: number[];
    referencedColumns: number[];
    tenantAttnum: number | null;
    referencedTenantAttnum: number | null;
  }>(`
    select con.conname as name, c.relname as table, rc.relname as referenced,
           con.conkey as "columns", con.confkey as "referencedColumns",
           a.attnum as "tenantAttnum", ra.attnum as "referencedTenantAttnum"
      from pg_constraint con
      join pg_class c on c.oid = con.conrelid
      join pg_namespace n on n.oid = c.relnamespace
      join pg_class rc on rc.oid = con.confrelid
      left join pg_attribute a
        on a.attrelid = c.oid and a.attname = 'tenant_id' and a.attnum > 0 and not a.attisdropped
      left join pg_attribute ra
        on ra.attrelid = rc.oid and ra.attname = 'tenant_id' and ra.attnum > 0 and not ra.attisdropped
     where con.contype = 'f' and n.nspname = 'public'
     order by 1`);
  for (const fk of foreignKeys.rows) {
    const fromTenantTable = fk.tenantAttnum !== null;
    const toTenantTable = fk.referencedTenantAttnum !== null;
    if (fromTenantTable && fk.referenced === "tenants") {
      // The tenant key itself: (tenant_id) -> tenants(id).
      if (fk.columns.length !== 1 || fk.columns[0] !== fk.tenantAttnum) {
        offences.push({
          table: fk.table,
          problem: `foreign key ${fk.name} references tenants through a column other than tenant_id`,
        });
      }
    } else if (fromTenantTable && toTenantTable) {
      const paired = fk.columns.some(
        (column, k) =>
          column === fk.tenantAttnum && fk.referencedColumns[k] === fk.referencedTenantAttnum,
      );
      if (!paired) {
        offences.push({
          table: fk.table,
          problem: `foreign key ${fk.name} to ${fk.referenced} does not pair tenant_id with tenant_id`,
        });
      }
    } else if (!fromTenantTable && toTenantTable) {
      offences.push({
        table: fk.table,
        problem: `foreign key ${fk.name} from a table without tenant_id to tenant table ${fk.referenced}`,
      });
    }
  }
  return offences;
}

const offendingTables = (offences: readonly Offence[]) => [
  ...new Set(offences.map((offence) => offence.table)),
];

let connection: TestDatabaseClient | undefined;
let client: pg.Client;

beforeAll(async () => {
  connection = await connectToTestDatabase();
  client = connection.client;
});

afterAll(async () => {
  await connection?.close();
});

/** Changes the schema, runs the checks on the changed schema, and rolls the change back. */
async function withSchemaChange<T>(ddl: string[], fn: () => Promise<T>): Promise<T> {
  await client.query("begin");
  try {
    for (const statement of ddl) await client.query(statement);
    return await fn();
  } finally {
    await client.query("rollback");
  }
}

describe("the migrated schema", () => {
  it("finds the tenant tables (the enumeration is not vacuous)", async () => {
    const tables = await tenantTables(client);
    expect(tables).toContain("roles");
    expect(tables).toContain("tenants");
  });

  it("has row-level security enabled, forced and with a tenant policy on every tenant table", async () => {
    expect(await rowLevelSecurityOffences(client)).toEqual([]);
  });

  it("keeps the Citus key rules on every tenant table", async () => {
    expect(await citusKeyOffences(client)).toEqual([]);
  });

  it("gives app_tenant no way around row-level security, and app_system no superuser", async () => {
    const roles = await client.query<{
      name: string;
      superuser: boolean;
      bypassrls: boolean;
      canLogin: boolean;
    }>(
      `select rolname as name, rolsuper as superuser, rolbypassrls as bypassrls,
              rolcanlogin as "canLogin"
         from pg_roles where rolname in ('app_tenant', 'app_system') order by 1`,
    );
    expect(roles.rows).toEqual([
      { name: "app_system", superuser: false, bypassrls: true, canLogin: false },
      { name: "app_tenant", superuser: false, bypassrls: false, canLogin: false },
    ]);

    const owned = await client.query<{ relname: string }>(
      `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and pg_get_userbyid(c.relowner) = 'app_tenant'`,
    );
    expect(owned.rows).toEqual([]);

    // Nor does it inherit anything: it is a member of no other role.
    const memberships = await client.query(
      `select m.roleid::regrole::text as role from pg_auth_members m
        where m.member = 'app_tenant'::regrole`,
    );
    expect(memberships.rows).toEqual([]);
  });
});

describe("the guards bite", () => {
  it.each([
    ["the policy is dropped", ["drop policy tenant_isolation on notes"]],
    ["row-level security is no longer forced", ["alter table notes no force row level security"]],
    ["row-level security is disabled", ["alter table notes disable row level security"]],
    [
      "the policy lets every row through",
      [
        "drop policy tenant_isolation on notes",
        "create policy tenant_isolation on notes using (true) with check (true)",
      ],
    ],
    [
      "the policy has no WITH CHECK",
      [
        "drop policy tenant_isolation on notes",
        "create policy tenant_isolation on notes for select using (tenant_id = (select app.current_tenant_id()))",
      ],
    ],
    [
      "the policy calls app.current_tenant_id() for every row",
      [
        "drop policy tenant_isolation on notes",
        "create policy tenant_isolation on notes using (tenant_id = app.current_tenant_id()) with check (tenant_id = app.current_tenant_id())",
      ],
    ],
  ])("reports notes when %s", async (_, ddl) => {
    await withSchemaChange(ddl, async () => {
      expect(offendingTables(await rowLevelSecurityOffences(client))).toEqual(["notes"]);
    });
    expect(await rowLevelSecurityOffences(client)).toEqual([]);
  });

  it("reports a new tenant table that was created without row-level security", async () => {
    await withSchemaChange(
      [
        `create table comments (
           tenant_id uuid not null references tenants (id) on delete cascade,
           id uuid not null,
           body text,
           primary key (tenant_id, id))`,
      ],
      async () => {
        expect(await tenantTables(client)).toContain("comments");
        const offences = await rowLevelSecurityOffences(client);
        expect(offendingTables(offences)).toEqual(["comments"]);
        expect(offences.map((offence) => offence.problem)).toEqual([
          "row-level security disabled",
          "row-level security not forced",
          "no ALL policy with USING and WITH CHECK on app.current_tenant_id()",
        ]);
        // Its keys follow the rules, so only the RLS guard fires.
        expect(await citusKeyOffences(client)).toEqual([]);
      },
    );
  });

  it.each([
    ["a unique index without tenant_id", ["create unique index notes_id_key on notes (id)"]],
    [
      "a primary key that does not lead with tenant_id",
      [
        "alter table notes drop constraint notes_pkey",
        "alter table notes add constraint notes_pkey primary key (id, tenant_id)",
      ],
    ],
  ])("reports notes for %s", async (_, ddl) => {
    await withSchemaChange(ddl, async () => {
      expect(offendingTables(await citusKeyOffences(client))).toEqual(["notes"]);
    });
  });

  it("reports a foreign key between tenant tables that leaves tenant_id out", async () => {
    await withSchemaChange(
      [
        "create unique index notes_id_key on notes (id)",
        `create table comments (
           tenant_id uuid not null references tenants (id),
           id uuid not null,
           note_id uuid references notes (id),
           primary key (tenant_id, id))`,
      ],
      async () => {
        const offences = await citusKeyOffences(client);
        expect(offences).toContainEqual({
          table: "comments",
          problem: expect.stringMatching(/to notes does not pair tenant_id/),
        });
        expect(offendingTables(offences).sort()).toEqual(["comments", "notes"]);
      },
    );
    // The same reference through (tenant_id, note_id) is fine.
    await withSchemaChange(
      [
        `create table comments (
           tenant_id uuid not null references tenants (id),
           id uuid not null,
           note_id uuid,
           primary key (tenant_id, id),
           foreign key (tenant_id, note_id) references notes (tenant_id, id))`,
      ],
      async () => {
        expect(await citusKeyOffences(client)).toEqual([]);
      },
    );
  });

  it("reports a reference to tenants through another column, and one from a global table", async () => {
    await withSchemaChange(
      [
        "alter table notes add column partner_tenant_id uuid references tenants (id)",
        "create table countries (code text primary key, sample_note uuid, sample_tenant uuid)",
        "alter table countries add foreign key (sample_tenant, sample_note) references notes (tenant_id, id)",
      ],
      async () => {
        const offences = await citusKeyOffences(client);
        expect(offendingTables(offences).sort()).toEqual(["countries", "notes"]);
      },
    );
  });
});

describe("role names", () => {
  /** A tenant with the system role owner, made in SQL; its id. */
  async function tenantWithOwnerRole(): Promise<string> {
    const { rows } = await client.query<{ id: string }>(
      `insert into tenants (id, name, slug) values (gen_random_uuid(), 'Names', 'names-' || gen_random_uuid())
       returning id`,
    );
    const tenantId = (rows[0] as { id: string }).id;
    await client.query(
      `insert into roles (tenant_id, id, name, system) values ($1, gen_random_uuid(), 'owner', true)`,
      [tenantId],
    );
    return tenantId;
  }

  it("are unique in a tenant whatever their case, in the database itself", async () => {
    await withSchemaChange([], async () => {
      const tenantId = await tenantWithOwnerRole();
      for (const name of ["Owner", "OWNER"]) {
        await client.query("savepoint attempt");
        await expect(
          client.query(
            `insert into roles (tenant_id, id, name) values ($1, gen_random_uuid(), $2)`,
            [tenantId, name],
          ),
        ).rejects.toMatchObject({ code: "23505", constraint: "roles_tenant_id_lower_name_key" });
        await client.query("rollback to savepoint attempt");
      }
      // Another tenant may use the same name.
      const other = await tenantWithOwnerRole();
      expect(other).not.toBe(tenantId);
    });
  });

  it("that collided ignoring case before the index are renamed by its migration", async () => {
    const migration = readFileSync(
      join(migrationsFolder(), "0018_role_names_ignore_case.sql"),
      "utf8",
    ).split("--> statement-breakpoint");
    await withSchemaChange(["drop index roles_tenant_id_lower_name_key"], async () => {
      const tenantId = await tenantWithOwnerRole();
      const add = (name: string, createdAt: string) =>
        client.query<{ id: string }>(
          `insert into roles (tenant_id, id, name, created_at) values ($1, gen_random_uuid(), $2, $3)
           returning id`,
          [tenantId, name, createdAt],
        );
      await add("Owner", "2020-01-01");
      await add("editors", "2021-01-01");
      const newer = await add("EDITORS", "2022-01-01");
      await add("x".repeat(64).toUpperCase(), "2021-01-01");
      await add("x".repeat(64), "2020-01-01");
      await add("Viewers", "2020-01-01");
      for (const statement of migration) await client.query(statement);

      const { rows } = await client.query<{ id: string; name: string }>(
        "select id, name from roles where tenant_id = $1 order by name",
        [tenantId],
      );
      const names = rows.map((row) => row.name);
      const suffixOf = (id: string) => ` (${id.slice(-8)})`;
      expect(names).toContain("owner");
      expect(names).toContain("editors");
      expect(names).toContain(`EDITORS${suffixOf((newer.rows[0] as { id: string }).id)}`);
      expect(names).toContain("x".repeat(64));
      expect(names).toContain("Viewers");
      expect(names.filter((name) => name.startsWith("Owner ("))).toHaveLength(1);
      expect(names.filter((name) => /^X{53} \([0-9a-f]{8}\)$/.test(name))).toHaveLength(1);
      expect(new Set(names.map((name) => name.toLowerCase())).size).toBe(names.length);
      // The index the migration builds stands on the renamed data.
      const index = await client.query(
        "select 1 from pg_indexes where indexname = 'roles_tenant_id_lower_name_key'",
      );
      expect(index.rowCount).toBe(1);
    });
  });
});
