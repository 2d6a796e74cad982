import { and, desc, eq, lt, sql } from "drizzle-orm";
import { param, prepareStatement, type TenantDatabase } from "../../core/database/index.js";
import { type ItemRow, items } from "./items.table.js";

/*
 * Every query is built once, here, and runs as a named prepared statement in the tenant's
 * transaction. Each one filters on tenant_id as well as relying on row-level security.
 */
const ofTenant = eq(items.tenantId, param("tenantId"));

const findById = prepareStatement("items_find_by_id", items, (db) =>
  db
    .select()
    .from(items)
    .where(and(ofTenant, eq(items.id, param("id")))),
);

// Keyset pagination, newest first (ids are time-ordered): the cost of a page does not grow
// with the table. Two statements, so each has a plan that uses the (tenant_id, id) key.
const firstPage = prepareStatement("items_first_page", items, (db) =>
  db.select().from(items).where(ofTenant).orderBy(desc(items.id)).limit(param("limit")),
);
const pageAfter = prepareStatement("items_page_after", items, (db) =>
  db
    .select()
    .from(items)
    .where(and(ofTenant, lt(items.id, param("after"))))
    .orderBy(desc(items.id))
    .limit(param("limit")),
);

const insert = prepareStatement("items_insert", items, (db) =>
  db
    .insert(items)
    .values({
      tenantId: param("tenantId"),
      id: param("id"),
      name: param("name"),
      description: param("description"),
      createdBy: param("createdBy"),
    })
    .returning(),
);

// One statement for a partial update: a field is changed only when its flag is true, so a
// description can be cleared (set to null) as well as left alone.
const update = prepareStatement("items_update", items, (db) =>
  db
    .update(items)
    .set({
      name: sql`case when ${param("setName")}::boolean then ${param("name")}::text else ${items.name} end`,
      description: sql`case when ${param("setDescription")}::boolean then ${param("description")}::text else ${items.description} end`,
    })
    .where(and(ofTenant, eq(items.id, param("id"))))
    .returning(),
);

const remove = prepareStatement("items_delete", items, (db) =>
  db
    .delete(items)
    .where(and(ofTenant, eq(items.id, param("id"))))
    .returning(),
);

export type { ItemRow };

export interface ItemChanges {
  name?: string | undefined;
  description?: string | null | undefined;
}

/**
 * Items of the tenant that `db` is bound to; there is no way to name another tenant. Built once
 * (the statements above), called with the request's `TenantDatabase`.
 */
export const itemsRepository = {
  async findById(db: TenantDatabase, id: string): Promise<ItemRow | undefined> {
    return (await db.rows(findById, { id }))[0];
  },
  /** Up to `limit` items older than `after` (all when undefined), newest first. */
  list(db: TenantDatabase, limit: number, after: string | undefined): Promise<ItemRow[]> {
    return after === undefined
      ? db.rows(firstPage, { limit })
      : db.rows(pageAfter, { limit, after });
  },
  async insert(
    db: TenantDatabase,
    values: { id: string; name: string; description: string | null; createdBy: string | null },
  ): Promise<ItemRow> {
    const [row] = await db.rows(insert, values);
    return row as ItemRow;
  },
  async update(db: TenantDatabase, id: string, changes: ItemChanges): Promise<ItemRow | undefined> {
    const rows = await db.rows(update, {
      id,
      setName: changes.name !== undefined,
      name: changes.name ?? null,
      setDescription: changes.description !== undefined,
      description: changes.description ?? null,
    });
    return rows[0];
  },
  async remove(db: TenantDatabase, id: string): Promise<boolean> {
    return (await db.rows(remove, { id })).length > 0;
  },
};
