import { sql } from "drizzle-orm";
import { check, index, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { id } from "./columns.js";
import { tenants } from "./tenants.table.js";
import { users } from "./users.table.js";

/**
 * One sign-in (a refresh-token family): every access token carries its id as `sid`, and the
 * authentication check lets a token through only while its session is live. Global: the
 * session moves between the user's tenants (switch-tenant), so it has no tenant_id key.
 */
export const sessions = pgTable(
  "sessions",
  {
    id: id().primaryKey(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /**
     * The tenant the session's tokens are issued for; null while the user has no active
     * tenant. A deleted tenant leaves its sessions running without one: the next refresh
     * moves them to another tenant of the user, or on without a tenant.
     */
    currentTenantId: uuid("current_tenant_id").references(() => tenants.id, {
      onDelete: "set null",
    }),
    userAgent: text("user_agent"),
    ip: text("ip"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    lastUsedAt: timestamp("last_used_at", { withTimezone: true, mode: "date" })
      .notNull()
      .defaultNow(),
    /** The end of its current refresh token's life, capped by the absolute session lifetime. */
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
    revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
    revokedReason: text("revoked_reason"),
  },
  (table) => [
    index("sessions_user_id_idx").on(table.userId),
    check("sessions_user_agent_length", sql`char_length(${table.userAgent}) <= 512`),
  ],
);

export type SessionRow = typeof sessions.$inferSelect;
