/**
 * Whether the schema can move to Citus distributed by tenant_id, and the SQL that moves it.
 *
 * The rules are Citus' own (docs "Creating and Modifying Distributed Objects", and the checks of
 * its foreign_constraint.c):
 * - a table with a `tenant_id` column is distributed by it, every one in one colocation group:
 *   its primary key, unique constraints, unique indexes and exclusion constraints include
 *   tenant_id (Citus enforces them within one shard only), and tenant_id is NOT NULL;
 * - a table without tenant_id becomes a reference table (a copy on every node). `tenants` is one:
 *   it is the anchor of every tenant key, small, rarely written, and `users.last_tenant_id` and
 *   `sessions.current_tenant_id` point at it, which a distributed `tenants` would refuse;
 * - a foreign key between two distributed tables pairs tenant_id with tenant_id at the same
 *   position; a distributed table may reference a reference table; a reference table may not
 *   reference a distributed table;
 * - a foreign key whose columns include tenant_id is not ON DELETE SET NULL / SET DEFAULT, nor
 *   ON UPDATE SET NULL / SET DEFAULT / CASCADE (Citus never changes a distribution column);
 * - referenced tables are distributed before the tables that reference them.
 *
 * `checkCitusReadiness` is pure: it takes catalog facts (`readCatalog` reads them from a live
 * database) and returns the violations and the plan, so hand-built bad schemas can test it.
 */
import type pg from "pg";

export const DISTRIBUTION_COLUMN = "tenant_id";

/** Schemas never moved: PostgreSQL's own, and drizzle's migration bookkeeping (coordinator-local). */
const LOCAL_SCHEMAS = ["pg_catalog", "information_schema", "drizzle"];

export type ReferentialAction = "no action" | "restrict" | "cascade" | "set null" | "set default";

export interface CatalogTable {
  /** Schema-qualified and quoted where needed, as a regclass literal: `public.items`. */
  readonly name: string;
  readonly columns: readonly { readonly name: string; readonly notNull: boolean }[];
  readonly rowLevelSecurity: boolean;
  readonly policies: readonly string[];
  readonly triggers: readonly string[];
}

export interface CatalogKey {
  readonly table: string;
  readonly name: string;
  readonly kind: "primary key" | "unique constraint" | "unique index" | "exclusion constraint";
  /** The key's columns in order; null for an expression (`lower(email)`). */
  readonly columns: readonly (string | null)[];
}

export interface CatalogForeignKey {
  readonly name: string;
  readonly table: string;
  readonly columns: readonly string[];
  readonly referencedTable: string;
  readonly referencedColumns: readonly string[];
  readonly onDelete: ReferentialAction;
  readonly onUpdate: ReferentialAction;
}

export interface SchemaCatalog {
  readonly tables: readonly CatalogTable[];
  readonly keys: readonly CatalogKey[];
  readonly foreignKeys: readonly CatalogForeignKey[];
}

export interface Violation {
  readonly table: string;
  readonly problem: string;
}

export interface CitusPlan {
  /** Tables without tenant_id, referenced ones first. */
  readonly referenceTables: readonly string[];
  /** Tables with tenant_id, referenced ones first; the first anchors the colocation group. */
  readonly distributedTables: readonly string[];
  /** Some table has triggers, which Citus moves only with citus.enable_unsafe_triggers on. */
  readonly needsUnsafeTriggers: boolean;
  /** What still needs a decision or a setting on the cluster; not a reason to refuse. */
  readonly cautions: readonly string[];
}

export interface CitusReadiness {
  readonly violations: readonly Violation[];
  readonly plan: CitusPlan;
}

const FORBIDDEN_ON_DELETE: readonly ReferentialAction[] = ["set null", "set default"];
const FORBIDDEN_ON_UPDATE: readonly ReferentialAction[] = ["set null", "set default", "cascade"];

export function checkCitusReadiness(catalog: SchemaCatalog): CitusReadiness {
  const violations: Violation[] = [];
  const tableNames = new Set(catalog.tables.map((table) => table.name));
  const distributed = new Set(
    catalog.tables
      .filter((table) => table.columns.some((column) => column.name === DISTRIBUTION_COLUMN))
      .map((table) => table.name),
  );

  for (const table of catalog.tables) {
    const tenantColumn = table.columns.find((column) => column.name === DISTRIBUTION_COLUMN);
    if (tenantColumn && !tenantColumn.notNull) {
      violations.push({
        table: table.name,
        problem: `${DISTRIBUTION_COLUMN} may be NULL: Citus cannot place a row without its distribution column`,
      });
    }
  }

  for (const key of catalog.keys) {
    if (distributed.has(key.table) && !key.columns.includes(DISTRIBUTION_COLUMN)) {
      violations.push({
        table: key.table,
        problem: `${key.kind} ${key.name} does not include ${DISTRIBUTION_COLUMN}: Citus enforces it only within one shard`,
      });
    }
  }

  // A table without tenant_id that references a distributed table cannot be a reference table.
  const cannotBeReference = new Set<string>();
  for (const fk of catalog.foreignKeys) {
    if (!distributed.has(fk.table) && distributed.has(fk.referencedTable)) {
      cannotBeReference.add(fk.table);
      violations.push({
        table: fk.table,
        problem: `foreign key ${fk.name} references distributed table ${fk.referencedTable}: a reference table can reference only reference tables`,
      });
    }
  }

  for (const fk of catalog.foreignKeys) {
    const fromDistributed = distributed.has(fk.table);
    const toDistributed = distributed.has(fk.referencedTable);
    if (!tableNames.has(fk.referencedTable)) {
      violations.push({
        table: fk.table,
        problem: `foreign key ${fk.name} references ${fk.referencedTable}, which stays local on the coordinator: Citus cannot enforce it`,
      });
    } else if (!toDistributed && cannotBeReference.has(fk.referencedTable)) {
      violations.push({
        table: fk.table,
        problem: `foreign key ${fk.name} references ${fk.referencedTable}, which cannot be a reference table (see its own violation)`,
      });
    }
    if (fromDistributed && toDistributed) {
      const position = fk.columns.indexOf(DISTRIBUTION_COLUMN);
      if (position === -1 || fk.referencedColumns[position] !== DISTRIBUTION_COLUMN) {
        violations.push({
          table: fk.table,
          problem: `foreign key ${fk.name} to ${fk.referencedTable} does not pair ${DISTRIBUTION_COLUMN} with ${DISTRIBUTION_COLUMN}: the rows could be on different shards`,
        });
      }
    }
    if (fromDistributed && fk.columns.includes(DISTRIBUTION_COLUMN)) {
      if (FORBIDDEN_ON_DELETE.includes(fk.onDelete)) {
        violations.push({
          table: fk.table,
          problem: `foreign key ${fk.name} includes ${DISTRIBUTION_COLUMN} and is ON DELETE ${fk.onDelete.toUpperCase()}: Citus never changes a distribution column`,
        });
      }
      if (FORBIDDEN_ON_UPDATE.includes(fk.onUpdate)) {
        violations.push({
          table: fk.table,
          problem: `foreign key ${fk.name} includes ${DISTRIBUTION_COLUMN} and is ON UPDATE ${fk.onUpdate.toUpperCase()}: Citus never changes a distribution column`,
        });
      }
    }
  }

  const tablesWithout = catalog.tables.filter((table) => !distributed.has(table.name));
  const tablesWith = catalog.tables.filter((table) => distributed.has(table.name));
  const referenceOrder = dependencyOrder(tablesWithout, catalog.foreignKeys, violations);
  const distributedOrder = dependencyOrder(tablesWith, catalog.foreignKeys, violations);

  return {
    violations,
    plan: {
      referenceTables: referenceOrder,
      distributedTables: distributedOrder,
      needsUnsafeTriggers: catalog.tables.some((table) => table.triggers.length > 0),
      cautions: cautionsFor(tablesWithout, tablesWith),
    },
  };
}

/**
 * The tables in an order where every table comes after the tables it references (among these
 * tables; self-references aside), ties broken by name. A cycle has no such order: Citus needs the
 * referenced table first, so the cycle is a violation and its tables follow in name order.
 */
function dependencyOrder(
  tables: readonly CatalogTable[],
  foreignKeys: readonly CatalogForeignKey[],
  violations: Violation[],
): string[] {
  const pending = new Map<string, Set<string>>(tables.map((table) => [table.name, new Set()]));
  for (const fk of foreignKeys) {
    if (fk.table !== fk.referencedTable && pending.has(fk.referencedTable)) {
      pending.get(fk.table)?.add(fk.referencedTable);
    }
  }
  const order: string[] = [];
  for (;;) {
    const ready = [...pending]
      .filter(([, references]) => [...references].every((name) => !pending.has(name)))
      .map(([name]) => name)
      .sort();
    const next = ready[0];
    if (next === undefined) break;
    order.push(next);
    pending.delete(next);
  }
  if (pending.size > 0) {
    const cycle = [...pending.keys()].sort();
    violations.push({
      table: cycle[0] as string,
      problem: `foreign keys form a cycle, so no order moves each referenced table first: ${cycle.join(", ")} (drop one key of the cycle, move the tables, add it back)`,
    });
    order.push(...cycle);
  }
  return order;
}

function cautionsFor(
  referenceTables: readonly CatalogTable[],
  distributedTables: readonly CatalogTable[],
): string[] {
  const cautions: string[] = [];
  const withTriggers = (tables: readonly CatalogTable[]) =>
    tables
      .filter((table) => table.triggers.length > 0)
      .map((table) => `${table.name} (${table.triggers.join(", ")})`);
  const referenceTriggers = withTriggers(referenceTables);
  const distributedTriggers = withTriggers(distributedTables);
  if (referenceTriggers.length + distributedTriggers.length > 0) {
    cautions.push(
      "Citus moves a table with triggers only while citus.enable_unsafe_triggers is on, and then runs each trigger where the row is stored.",
    );
  }
  if (distributedTriggers.length > 0) {
    cautions.push(
      `Triggers of distributed tables run on the row's shard; a trigger that writes another table must write a colocated row of the same tenant: ${distributedTriggers.join("; ")}.`,
    );
  }
  if (referenceTriggers.length > 0) {
    cautions.push(
      `A reference table has a copy on every node and its triggers run on each copy: a trigger writing another table writes once per node, and now() differs between copies. Move their work into the application first: ${referenceTriggers.join("; ")}.`,
    );
  }
  const secured = [...referenceTables, ...distributedTables].filter(
    (table) => table.rowLevelSecurity,
  );
  if (secured.length > 0) {
    cautions.push(
      `Row-level security is enabled on ${secured.length} table(s); the workers evaluate the policies and see a transaction-local setting only if it reaches them (docs/operations.md, "Past one machine").`,
    );
  }
  return cautions;
}

/** `text` as comment lines of at most 100 characters (a longer word gets a line of its own). */
function commentLines(text: string, first: string, next: string): string[] {
  const lines: string[] = [];
  let prefix = first;
  let words: string[] = [];
  for (const word of text.split(" ")) {
    if (words.length > 0 && prefix.length + [...words, word].join(" ").length > 100) {
      lines.push(prefix + words.join(" "));
      prefix = next;
      words = [];
    }
    words.push(word);
  }
  lines.push(prefix + words.join(" "));
  return lines;
}

/** A string literal for SQL: single quotes doubled. */
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** The statements that move the schema, in order, as a psql script. */
export function citusMigrationSql(plan: CitusPlan): string {
  const lines = [
    `-- Moves the schema to Citus, distributed by ${DISTRIBUTION_COLUMN}. Generated by \`npm run db:citus\`.`,
    "-- Run on the coordinator as the owner, after CREATE EXTENSION citus and citus_add_node for",
    "-- every worker. Each statement commits on its own: run them in this order (referenced tables",
    "-- first). drizzle's migration table stays local on the coordinator, where migrations run.",
  ];
  if (plan.cautions.length > 0) {
    lines.push("--", "-- Cautions:");
    for (const caution of plan.cautions) lines.push(...commentLines(caution, "--   - ", "--     "));
  }
  if (plan.needsUnsafeTriggers) {
    lines.push("", "SET citus.enable_unsafe_triggers TO on;");
  }
  if (plan.referenceTables.length > 0) {
    lines.push("", "-- Reference tables (no tenant_id): a copy on every node.");
    for (const table of plan.referenceTables) {
      lines.push(`SELECT create_reference_table(${literal(table)});`);
    }
  }
  const [anchor, ...colocated] = plan.distributedTables;
  if (anchor !== undefined) {
    lines.push("", `-- Distributed by ${DISTRIBUTION_COLUMN}, all in one colocation group.`);
    lines.push(
      `SELECT create_distributed_table(${literal(anchor)}, ${literal(DISTRIBUTION_COLUMN)}, colocate_with => 'none');`,
    );
    for (const table of colocated) {
      lines.push(
        `SELECT create_distributed_table(${literal(table)}, ${literal(DISTRIBUTION_COLUMN)}, colocate_with => ${literal(anchor)});`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

type Queryable = Pick<pg.ClientBase, "query">;

/** Tables of every schema but PostgreSQL's, drizzle's and extensions' own; partitions aside. */
const TABLE_FILTER = `
  c.relkind in ('r', 'p') and not c.relispartition
  and n.nspname <> all ($1::text[]) and n.nspname not like 'pg\\_%'
  and not exists (
    select 1 from pg_depend d
     where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')`;

/** pg_constraint's confdeltype and confupdtype codes. */
const ACTIONS: Record<string, ReferentialAction> = {
  a: "no action",
  r: "restrict",
  c: "cascade",
  n: "set null",
  d: "set default",
};

function actionOf(code: string): ReferentialAction {
  const action = ACTIONS[code];
  if (action === undefined) throw new Error(`unknown foreign key action code ${code}`);
  return action;
}

/** Reads the facts `checkCitusReadiness` needs from a live database's catalog. */
export async function readCatalog(db: Queryable): Promise<SchemaCatalog> {
  const tables = await db.query<CatalogTable>(
    `select format('%I.%I', n.nspname, c.relname) as name,
            coalesce((select json_agg(json_build_object('name', a.attname, 'notNull', a.attnotnull)
                                      order by a.attnum)
                        from pg_attribute a
                       where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped),
                     '[]') as columns,
            c.relrowsecurity as "rowLevelSecurity",
            array(select p.polname::text from pg_policy p where p.polrelid = c.oid order by 1)
              as policies,
            array(select t.tgname::text from pg_trigger t
                   where t.tgrelid = c.oid and not t.tgisinternal order by 1) as triggers
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
      where ${TABLE_FILTER}
      order by 1`,
    [LOCAL_SCHEMAS],
  );

  // Unique indexes (including those behind primary keys and unique constraints) and exclusion
  // constraints; only key columns count, not INCLUDE ones. An expression's position is attnum 0,
  // which joins to no column and reads as null.
  const keys = await db.query<CatalogKey>(
    `select format('%I.%I', n.nspname, c.relname) as table, i.relname::text as name,
            case con.contype when 'p' then 'primary key' when 'u' then 'unique constraint'
                             when 'x' then 'exclusion constraint' else 'unique index' end as kind,
            array(select a.attname::text
                    from unnest(x.indkey::int2[]) with ordinality as k(attnum, position)
                    left join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
                   where k.position <= x.indnkeyatts
                   order by k.position) as columns
       from pg_index x
       join pg_class c on c.oid = x.indrelid
       join pg_namespace n on n.oid = c.relnamespace
       join pg_class i on i.oid = x.indexrelid
       left join pg_constraint con on con.conindid = x.indexrelid and con.conrelid = c.oid
                                   and con.contype in ('p', 'u', 'x')
      where (x.indisunique or x.indisexclusion) and ${TABLE_FILTER}
      order by 1, 2`,
    [LOCAL_SCHEMAS],
  );

  const foreignKeys = await db.query<
    Omit<CatalogForeignKey, "onDelete" | "onUpdate"> & {
      onDelete: string;
      onUpdate: string;
    }
  >(
    `select con.conname::text as name,
            format('%I.%I', n.nspname, c.relname) as table,
            array(select a.attname::text
                    from unnest(con.conkey) with ordinality as k(attnum, position)
                    join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum
                   order by k.position) as columns,
            format('%I.%I', rn.nspname, rc.relname) as "referencedTable",
            array(select a.attname::text
                    from unnest(con.confkey) with ordinality as k(attnum, position)
                    join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum
                   order by k.position) as "referencedColumns",
            con.confdeltype as "onDelete", con.confupdtype as "onUpdate"
       from pg_constraint con
       join pg_class c on c.oid = con.conrelid
       join pg_namespace n on n.oid = c.relnamespace
       join pg_class rc on rc.oid = con.confrelid
       join pg_namespace rn on rn.oid = rc.relnamespace
      where con.contype = 'f' and con.conparentid = 0 and ${TABLE_FILTER}
      order by 2, 1`,
    [LOCAL_SCHEMAS],
  );

  return {
    tables: tables.rows,
    keys: keys.rows,
    foreignKeys: foreignKeys.rows.map((fk) => ({
      ...fk,
      onDelete: actionOf(fk.onDelete),
      onUpdate: actionOf(fk.onUpdate),
    })),
  };
}
