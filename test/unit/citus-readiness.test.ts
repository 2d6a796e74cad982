import { describe, expect, it } from "vitest";
import {
  type CatalogForeignKey,
  type CatalogKey,
  type CatalogTable,
  type CitusPlan,
  checkCitusReadiness,
  citusMigrationSql,
  type SchemaCatalog,
} from "../../scripts/citus-readiness.js";

/**
 * The Citus readiness rules on hand-built catalogs: a small schema shaped like the kit's passes,
 * and each kind of schema Citus would refuse is reported. test/integration/citus-readiness.test.ts
 * runs the same check on the migrated database's live catalog.
 */

const table = (
  name: string,
  columns: string[],
  options: Partial<Pick<CatalogTable, "rowLevelSecurity" | "triggers">> & {
    nullable?: string[];
  } = {},
): CatalogTable => ({
  name,
  columns: columns.map((column) => ({
    name: column,
    notNull: !(options.nullable ?? []).includes(column),
  })),
  rowLevelSecurity: options.rowLevelSecurity ?? false,
  policies: options.rowLevelSecurity ? ["tenant_isolation"] : [],
  triggers: options.triggers ?? [],
});

const primaryKey = (tableName: string, columns: (string | null)[]): CatalogKey => ({
  table: tableName,
  name: `${tableName.split(".")[1]}_pkey`,
  kind: "primary key",
  columns,
});

const foreignKey = (
  name: string,
  from: string,
  columns: string[],
  to: string,
  referencedColumns: string[],
  actions: Partial<Pick<CatalogForeignKey, "onDelete" | "onUpdate">> = {},
): CatalogForeignKey => ({
  name,
  table: from,
  columns,
  referencedTable: to,
  referencedColumns,
  onDelete: actions.onDelete ?? "no action",
  onUpdate: actions.onUpdate ?? "no action",
});

/** tenants and users (global), items and memberships (tenant tables), as the kit has them. */
const readySchema: SchemaCatalog = {
  tables: [
    table("public.items", ["tenant_id", "id", "name"], { rowLevelSecurity: true }),
    table("public.memberships", ["tenant_id", "user_id"], { rowLevelSecurity: true }),
    table("public.tenants", ["id", "slug"], { rowLevelSecurity: true }),
    table("public.users", ["id", "email", "last_tenant_id"], { nullable: ["last_tenant_id"] }),
    table("public.notes", ["tenant_id", "id", "item_id", "author_id"], {
      nullable: ["author_id"],
    }),
  ],
  keys: [
    primaryKey("public.items", ["tenant_id", "id"]),
    primaryKey("public.memberships", ["tenant_id", "user_id"]),
    primaryKey("public.tenants", ["id"]),
    { table: "public.tenants", name: "tenants_slug_key", kind: "unique index", columns: ["slug"] },
    primaryKey("public.users", ["id"]),
    { table: "public.users", name: "users_email_key", kind: "unique index", columns: [null] },
    primaryKey("public.notes", ["tenant_id", "id"]),
    {
      table: "public.notes",
      name: "notes_open_key",
      kind: "unique index",
      columns: ["tenant_id", null],
    },
  ],
  foreignKeys: [
    foreignKey("items_tenant_fk", "public.items", ["tenant_id"], "public.tenants", ["id"], {
      onDelete: "cascade",
    }),
    foreignKey("memberships_tenant_fk", "public.memberships", ["tenant_id"], "public.tenants", [
      "id",
    ]),
    foreignKey("memberships_user_fk", "public.memberships", ["user_id"], "public.users", ["id"], {
      onDelete: "cascade",
    }),
    foreignKey(
      "users_last_tenant_fk",
      "public.users",
      ["last_tenant_id"],
      "public.tenants",
      ["id"],
      {
        onDelete: "set null",
      },
    ),
    foreignKey(
      "notes_item_fk",
      "public.notes",
      ["tenant_id", "item_id"],
      "public.items",
      ["tenant_id", "id"],
      { onDelete: "cascade" },
    ),
    // SET NULL is fine when tenant_id is not among the key's columns.
    foreignKey("notes_author_fk", "public.notes", ["author_id"], "public.users", ["id"], {
      onDelete: "set null",
    }),
  ],
};

/** The ready schema with some parts added. */
const withChanges = (changes: Partial<SchemaCatalog>): SchemaCatalog => ({
  tables: [...readySchema.tables, ...(changes.tables ?? [])],
  keys: [...readySchema.keys, ...(changes.keys ?? [])],
  foreignKeys: [...readySchema.foreignKeys, ...(changes.foreignKeys ?? [])],
});

const problemsOf = (catalog: SchemaCatalog) =>
  checkCitusReadiness(catalog).violations.map(({ table, problem }) => `${table}: ${problem}`);

describe("checkCitusReadiness", () => {
  it("accepts a schema whose keys carry tenant_id, and plans referenced tables first", () => {
    const { violations, plan } = checkCitusReadiness(readySchema);
    expect(violations).toEqual([]);
    expect(plan.referenceTables).toEqual(["public.tenants", "public.users"]);
    expect(plan.distributedTables).toEqual(["public.items", "public.memberships", "public.notes"]);
  });

  it("reports a tenant table whose primary key lacks tenant_id", () => {
    const catalog: SchemaCatalog = {
      ...readySchema,
      keys: readySchema.keys.map((key) =>
        key.name === "items_pkey" ? { ...key, columns: ["id"] } : key,
      ),
    };
    expect(problemsOf(catalog)).toEqual([
      "public.items: primary key items_pkey does not include tenant_id: Citus enforces it only within one shard",
    ]);
  });

  it("reports a unique index or exclusion constraint of a tenant table without tenant_id", () => {
    const catalog = withChanges({
      keys: [
        { table: "public.items", name: "items_name_key", kind: "unique index", columns: [null] },
        {
          table: "public.items",
          name: "items_no_overlap",
          kind: "exclusion constraint",
          columns: ["id"],
        },
      ],
    });
    expect(problemsOf(catalog)).toEqual([
      "public.items: unique index items_name_key does not include tenant_id: Citus enforces it only within one shard",
      "public.items: exclusion constraint items_no_overlap does not include tenant_id: Citus enforces it only within one shard",
    ]);
  });

  it("reports a tenant_id that may be NULL", () => {
    const catalog = withChanges({
      tables: [table("public.drafts", ["tenant_id", "id"], { nullable: ["tenant_id"] })],
    });
    expect(problemsOf(catalog)).toEqual([
      "public.drafts: tenant_id may be NULL: Citus cannot place a row without its distribution column",
    ]);
  });

  it("reports a foreign key between tenant tables without tenant_id, or with it out of place", () => {
    const catalog = withChanges({
      foreignKeys: [
        foreignKey("notes_item_only_fk", "public.notes", ["item_id"], "public.items", ["id"]),
        foreignKey("notes_swapped_fk", "public.notes", ["item_id", "tenant_id"], "public.items", [
          "tenant_id",
          "id",
        ]),
      ],
    });
    expect(problemsOf(catalog)).toEqual([
      "public.notes: foreign key notes_item_only_fk to public.items does not pair tenant_id with tenant_id: the rows could be on different shards",
      "public.notes: foreign key notes_swapped_fk to public.items does not pair tenant_id with tenant_id: the rows could be on different shards",
    ]);
  });

  it("reports a reference table pointing to a tenant table, and the tables that reference it", () => {
    const catalog = withChanges({
      foreignKeys: [
        foreignKey(
          "users_favourite_item_fk",
          "public.users",
          ["last_tenant_id", "id"],
          "public.items",
          ["tenant_id", "id"],
        ),
      ],
    });
    expect(problemsOf(catalog)).toEqual([
      "public.users: foreign key users_favourite_item_fk references distributed table public.items: a reference table can reference only reference tables",
      "public.memberships: foreign key memberships_user_fk references public.users, which cannot be a reference table (see its own violation)",
      "public.notes: foreign key notes_author_fk references public.users, which cannot be a reference table (see its own violation)",
    ]);
  });

  it("reports a foreign key over tenant_id that would set or cascade it", () => {
    const catalog = withChanges({
      foreignKeys: [
        foreignKey(
          "notes_item_set_null_fk",
          "public.notes",
          ["tenant_id", "item_id"],
          "public.items",
          ["tenant_id", "id"],
          {
            onDelete: "set null",
          },
        ),
        foreignKey("notes_tenant_fk", "public.notes", ["tenant_id"], "public.tenants", ["id"], {
          onUpdate: "cascade",
        }),
      ],
    });
    expect(problemsOf(catalog)).toEqual([
      "public.notes: foreign key notes_item_set_null_fk includes tenant_id and is ON DELETE SET NULL: Citus never changes a distribution column",
      "public.notes: foreign key notes_tenant_fk includes tenant_id and is ON UPDATE CASCADE: Citus never changes a distribution column",
    ]);
  });

  it("reports a foreign key to a table that stays local on the coordinator", () => {
    const catalog = withChanges({
      foreignKeys: [
        foreignKey("items_migration_fk", "public.items", ["id"], "drizzle.__drizzle_migrations", [
          "hash",
        ]),
      ],
    });
    expect(problemsOf(catalog)).toEqual([
      "public.items: foreign key items_migration_fk references drizzle.__drizzle_migrations, which stays local on the coordinator: Citus cannot enforce it",
    ]);
  });

  it("reports foreign keys that form a cycle, and still plans every table once", () => {
    const catalog = withChanges({
      tables: [table("public.a", ["id", "b_id"]), table("public.b", ["id", "a_id"])],
      foreignKeys: [
        foreignKey("a_b_fk", "public.a", ["b_id"], "public.b", ["id"]),
        foreignKey("b_a_fk", "public.b", ["a_id"], "public.a", ["id"]),
        // A self-reference is no cycle: Citus handles it within the table.
        foreignKey("items_parent_fk", "public.items", ["tenant_id", "id"], "public.items", [
          "tenant_id",
          "id",
        ]),
      ],
    });
    const { violations, plan } = checkCitusReadiness(catalog);
    expect(violations).toEqual([
      {
        table: "public.a",
        problem:
          "foreign keys form a cycle, so no order moves each referenced table first: public.a, public.b (drop one key of the cycle, move the tables, add it back)",
      },
    ]);
    expect(plan.referenceTables).toEqual([
      "public.tenants",
      "public.users",
      "public.a",
      "public.b",
    ]);
  });

  it("cautions about triggers, on reference tables above all, and row-level security", () => {
    const catalog: SchemaCatalog = {
      ...readySchema,
      tables: readySchema.tables.map((entry) =>
        entry.name === "public.tenants"
          ? { ...entry, triggers: ["tenants_audit"] }
          : entry.name === "public.items"
            ? { ...entry, triggers: ["items_audit"] }
            : entry,
      ),
    };
    const { plan } = checkCitusReadiness(catalog);
    expect(plan.needsUnsafeTriggers).toBe(true);
    expect(plan.cautions).toEqual([
      expect.stringContaining("citus.enable_unsafe_triggers"),
      expect.stringMatching(/Triggers of distributed tables.*public\.items \(items_audit\)/),
      expect.stringMatching(/runs? on each copy.*public\.tenants \(tenants_audit\)/),
      expect.stringContaining("Row-level security is enabled on 3 table(s)"),
    ]);
    expect(checkCitusReadiness(readySchema).plan.needsUnsafeTriggers).toBe(false);
  });
});

describe("citusMigrationSql", () => {
  const statements = (sql: string) => sql.split("\n").filter((line) => /^SELECT /.test(line));

  it("creates each reference table, then each distributed table colocated with the first", () => {
    const sql = citusMigrationSql(checkCitusReadiness(readySchema).plan);
    expect(statements(sql)).toEqual([
      "SELECT create_reference_table('public.tenants');",
      "SELECT create_reference_table('public.users');",
      "SELECT create_distributed_table('public.items', 'tenant_id', colocate_with => 'none');",
      "SELECT create_distributed_table('public.memberships', 'tenant_id', colocate_with => 'public.items');",
      "SELECT create_distributed_table('public.notes', 'tenant_id', colocate_with => 'public.items');",
    ]);
    expect(sql).not.toContain("enable_unsafe_triggers TO on");
    // Every line but the statements is a comment or blank, so psql runs it as it is.
    for (const line of sql.split("\n")) {
      expect(line === "" || line.startsWith("--") || line.endsWith(";"), line).toBe(true);
    }
  });

  it("turns unsafe triggers on before moving tables that have them, and quotes names", () => {
    const plan: CitusPlan = {
      referenceTables: [`public."O'Brien"`],
      distributedTables: [],
      needsUnsafeTriggers: true,
      cautions: ["a caution long enough to wrap ".repeat(8).trim()],
    };
    const sql = citusMigrationSql(plan);
    expect(sql).toContain(`SELECT create_reference_table('public."O''Brien"');`);
    expect(sql.indexOf("SET citus.enable_unsafe_triggers TO on;")).toBeLessThan(
      sql.indexOf("create_reference_table"),
    );
    for (const line of sql.split("\n")) expect(line.length).toBeLessThanOrEqual(100);
  });
});
