import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkCitusReadiness,
  DISTRIBUTION_COLUMN,
  readCatalog,
  type SchemaCatalog,
} from "../../scripts/citus-readiness.js";
import { connectToTestDatabase, type TestDatabaseClient } from "../helpers/test-database.js";

/**
 * The migrated schema can move to Citus distributed by tenant_id: the check of
 * scripts/citus-readiness.ts runs on the live catalog of a freshly migrated database, so a table
 * or key added by a future migration is checked without anyone listing it. The rules themselves,
 * on hand-built schemas: test/unit/citus-readiness.test.ts. Here the last blocks break the live
 * schema (in rolled-back transactions) to show the catalog is read right, and run
 * `npm run db:citus` itself.
 */

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

let connection: TestDatabaseClient | undefined;
let client: pg.Client;
let catalog: SchemaCatalog;

beforeAll(async () => {
  connection = await connectToTestDatabase();
  client = connection.client;
  catalog = await readCatalog(client);
});

afterAll(async () => {
  await connection?.close();
});

const tenantTables = () =>
  catalog.tables
    .filter((table) => table.columns.some((column) => column.name === DISTRIBUTION_COLUMN))
    .map((table) => table.name);

/** Changes the schema, reads the catalog again, and rolls the change back. */
async function violationsAfter(ddl: string[]) {
  await client.query("begin");
  try {
    for (const statement of ddl) await client.query(statement);
    return checkCitusReadiness(await readCatalog(client)).violations;
  } finally {
    await client.query("rollback");
  }
}

describe("the migrated schema's catalog", () => {
  it("lists the kit's tables, keys and foreign keys (the check is not vacuous)", () => {
    const names = catalog.tables.map((table) => table.name);
    expect(names).toEqual(
      expect.arrayContaining(["public.tenants", "public.users", "public.notes", "public.roles"]),
    );
    expect(names.some((name) => name.startsWith("drizzle."))).toBe(false);
    expect(tenantTables()).toEqual(
      expect.arrayContaining(["public.notes", "public.memberships", "public.member_roles"]),
    );
    expect(catalog.keys).toContainEqual({
      table: "public.notes",
      name: "notes_pkey",
      kind: "primary key",
      columns: ["tenant_id", "id"],
    });
    // An expression in a key reads as null.
    expect(catalog.keys).toContainEqual({
      table: "public.users",
      name: "users_email_key",
      kind: "unique index",
      columns: [null],
    });
    expect(catalog.foreignKeys).toContainEqual({
      name: "member_roles_role_fkey",
      table: "public.member_roles",
      columns: ["tenant_id", "role_id"],
      referencedTable: "public.roles",
      referencedColumns: ["tenant_id", "id"],
      onDelete: "cascade",
      onUpdate: "no action",
    });
    const tenants = catalog.tables.find((table) => table.name === "public.tenants");
    expect(tenants?.rowLevelSecurity).toBe(true);
    expect(tenants?.policies).toContain("tenant_isolation");
    expect(tenants?.triggers).toContain("tenants_audit");
  });
});

describe("Citus readiness of the migrated schema", () => {
  it("has no violation: every key of a tenant table carries tenant_id, every reference fits", () => {
    expect(checkCitusReadiness(catalog).violations).toEqual([]);
  });

  it("distributes every tenant table and makes every other table, tenants included, a reference table", () => {
    const { plan } = checkCitusReadiness(catalog);
    const tenant = new Set(tenantTables());
    expect([...plan.distributedTables].sort()).toEqual([...tenant].sort());
    expect([...plan.referenceTables].sort()).toEqual(
      catalog.tables
        .map((table) => table.name)
        .filter((name) => !tenant.has(name))
        .sort(),
    );
    expect(plan.referenceTables).toEqual(
      expect.arrayContaining(["public.tenants", "public.users", "public.sessions"]),
    );
  });

  it("moves every referenced table before the tables that reference it", () => {
    const { plan } = checkCitusReadiness(catalog);
    const order = [...plan.referenceTables, ...plan.distributedTables];
    for (const fk of catalog.foreignKeys) {
      if (fk.table === fk.referencedTable) continue;
      expect(order.indexOf(fk.referencedTable), fk.name).toBeLessThan(order.indexOf(fk.table));
    }
  });

  it("cautions that the triggers of tenants and users would run on every node's copy", () => {
    const { plan } = checkCitusReadiness(catalog);
    expect(plan.needsUnsafeTriggers).toBe(true);
    const caution = plan.cautions.find((text) => text.includes("its triggers run on each copy"));
    expect(caution).toContain("public.tenants (tenants_audit");
    expect(caution).toContain("public.users (users_touch_updated_at)");
  });
});

describe("the check reads a changed live schema", () => {
  it("reports a unique index on a tenant table without tenant_id", async () => {
    expect(await violationsAfter(["create unique index notes_id_key on notes (id)"])).toEqual([
      {
        table: "public.notes",
        problem:
          "unique index notes_id_key does not include tenant_id: Citus enforces it only within one shard",
      },
    ]);
  });

  it("reports a primary key without tenant_id", async () => {
    const violations = await violationsAfter([
      "alter table invitations drop constraint invitations_pkey",
      "alter table invitations add constraint invitations_pkey primary key (id)",
    ]);
    expect(violations).toEqual([
      {
        table: "public.invitations",
        problem:
          "primary key invitations_pkey does not include tenant_id: Citus enforces it only within one shard",
      },
    ]);
  });

  it("reports a foreign key between tenant tables without tenant_id", async () => {
    const violations = await violationsAfter([
      "create unique index notes_id_key on notes (id)",
      `create table comments (
         tenant_id uuid not null references tenants (id) on delete cascade,
         id uuid not null,
         note_id uuid references notes (id),
         primary key (tenant_id, id))`,
    ]);
    expect(violations).toContainEqual({
      table: "public.comments",
      problem:
        "foreign key comments_note_id_fkey to public.notes does not pair tenant_id with tenant_id: the rows could be on different shards",
    });
  });

  it("reports a global table that references a tenant table", async () => {
    const violations = await violationsAfter([
      "alter table users add column favourite_note_id uuid",
      `alter table users add constraint users_favourite_note_fkey
         foreign key (last_tenant_id, favourite_note_id) references notes (tenant_id, id)`,
    ]);
    expect(violations).toContainEqual({
      table: "public.users",
      problem:
        "foreign key users_favourite_note_fkey references distributed table public.notes: a reference table can reference only reference tables",
    });
  });

  it("reports a tenant foreign key that sets tenant_id to NULL", async () => {
    const violations = await violationsAfter([
      "alter table notes drop constraint notes_tenant_id_tenants_id_fk",
      `alter table notes add constraint notes_tenant_id_tenants_id_fk
         foreign key (tenant_id) references tenants (id) on delete set null`,
    ]);
    expect(violations).toEqual([
      {
        table: "public.notes",
        problem:
          "foreign key notes_tenant_id_tenants_id_fk includes tenant_id and is ON DELETE SET NULL: Citus never changes a distribution column",
      },
    ]);
  });
});

describe("npm run db:citus", () => {
  const dbCitus = () =>
    run(process.execPath, ["--import", "tsx", "scripts/db-citus.ts"], {
      cwd: repoRoot,
      env: {
        ...process.env,
        ENVIRONMENT: "test",
        DATABASE_URL: connection?.database.url,
        REDIS_URL: "",
      },
    });

  it("prints one create statement for every table, and exits 0", async () => {
    const { stdout } = await dbCitus();
    const created = [
      ...stdout.matchAll(/^SELECT create_(reference|distributed)_table\('([^']+)'/gm),
    ].map((match) => `${match[1]} ${match[2]}`);
    const tenant = new Set(tenantTables());
    expect(created.sort()).toEqual(
      catalog.tables
        .map((table) => `${tenant.has(table.name) ? "distributed" : "reference"} ${table.name}`)
        .sort(),
    );
    expect(stdout).toContain("SET citus.enable_unsafe_triggers TO on;");
  });

  it("exits 1 and names the violation when the schema is not ready", async () => {
    await client.query("create table scratch_notes (tenant_id uuid not null, id uuid primary key)");
    try {
      const failed = await dbCitus().then(
        () => undefined,
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stdout).toBe("");
      expect(failed?.stderr).toContain(
        "public.scratch_notes: primary key scratch_notes_pkey does not include tenant_id",
      );
    } finally {
      await client.query("drop table scratch_notes");
    }
  });
});
