import { sql } from "drizzle-orm";
import { check, index, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { timestamps } from "./columns.js";
import { tenantId } from "./tenant-column.js";
import { users } from "./users.table.js";

export const MEMBERSHIP_STATUSES = ["active", "suspended"] as const;

/**
 * A user's place in a tenant: a tenant table (row-level security applies), keyed by
 * (tenant_id, user_id). Only an active membership lets a token for the tenant through; what
 * the member may do comes from their roles (member_roles, in the rbac module).
 */
export const memberships = pgTable(
  "memberships",
  {
    tenantId: tenantId(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    status: text("status", { enum: MEMBERSHIP_STATUSES }).notNull().default("active"),
    joinedAt: timestamp("joined_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    ...timestamps(),
  },
  (table) => [
    primaryKey({ name: "memberships_pkey", columns: [table.tenantId, table.userId] }),
    // A user's tenants, across tenants (login, switch-tenant): read as app_system.
    index("memberships_user_id_idx").on(table.userId),
    check("memberships_status_check", sql`${table.status} in ('active', 'suspended')`),
  ],
);

export type MembershipRow = typeof memberships.$inferSelect;
