import { sql } from "drizzle-orm";
import { index, jsonb, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { tenantId } from "../database/tenant-column.js";

/**
 * The tenant's audit log, append-only: the tenant role may insert and read, never change or
 * delete (migration 0010_audit_security). Rows come from triggers on audited tables (every
 * insert, update and delete, with the changed fields) and from `audit.record` (sign-in,
 * sign-out, token reuse, platform-admin actions).
 */
export const auditLogs = pgTable(
  "audit_logs",
  {
    tenantId: tenantId(),
    id: uuid("id").notNull().default(sql`app.uuid_v7()`),
    action: text("action").notNull(),
    resourceType: text("resource_type").notNull(),
    resourceId: text("resource_id"),
    /** The user who acted; not a foreign key, so the row outlives the user. */
    actorId: uuid("actor_id"),
    /** `{ field: { old, new } }` for row changes. */
    changes: jsonb("changes").$type<Record<string, { old: unknown; new: unknown }>>(),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
    ip: text("ip"),
    userAgent: text("user_agent"),
    requestId: text("request_id"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ name: "audit_logs_pkey", columns: [table.tenantId, table.id] }),
    index("audit_logs_action_idx").on(table.tenantId, table.action, table.id),
    index("audit_logs_resource_type_idx").on(table.tenantId, table.resourceType, table.id),
  ],
);

export type AuditLogRow = typeof auditLogs.$inferSelect;
