import { sql } from "drizzle-orm";
import { boolean, check, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { id, timestamps } from "./columns.js";
import { tenants } from "./tenants.table.js";

/**
 * People who sign in. Global, not tenant-scoped: one user may belong to many tenants through
 * memberships. The authentication check reads it on every new session, so it lives in the
 * core; the users and auth modules own its routes and services.
 */
export const users = pgTable(
  "users",
  {
    id: id().primaryKey(),
    /** As given at registration; unique case-insensitively (users_email_key). */
    email: text("email").notNull(),
    name: text("name").notNull(),
    /** argon2id PHC string; null for accounts that sign in only through OAuth. */
    passwordHash: text("password_hash"),
    emailVerifiedAt: timestamp("email_verified_at", { withTimezone: true, mode: "date" }),
    isActive: boolean("is_active").notNull().default(true),
    isPlatformAdmin: boolean("is_platform_admin").notNull().default(false),
    /** The tenant a login without `tenantId` enters. */
    lastTenantId: uuid("last_tenant_id").references(() => tenants.id, { onDelete: "set null" }),
    ...timestamps(),
  },
  (table) => [
    uniqueIndex("users_email_key").using("btree", sql`lower(${table.email})`),
    check("users_email_length", sql`char_length(${table.email}) between 3 and 320`),
    check("users_name_length", sql`char_length(${table.name}) between 1 and 200`),
  ],
);

export type UserRow = typeof users.$inferSelect;
