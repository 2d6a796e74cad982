import { sql } from "drizzle-orm";
import { check, pgTable, primaryKey, text, uuid } from "drizzle-orm/pg-core";
import { id, timestamps } from "../../core/database/columns.js";
import { tenantId } from "../../core/database/tenant-column.js";

/** The example tenant table. Its primary key leads with tenant_id, like every tenant table. */
export const items = pgTable(
  "items",
  {
    tenantId: tenantId(),
    id: id(),
    name: text("name").notNull(),
    description: text("description"),
    createdBy: uuid("created_by"),
    ...timestamps(),
  },
  (table) => [
    primaryKey({ name: "items_pkey", columns: [table.tenantId, table.id] }),
    check("items_name_length", sql`char_length(${table.name}) between 1 and 200`),
  ],
);

export type ItemRow = typeof items.$inferSelect;
