import { sql } from "drizzle-orm";
import { check, index, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { id } from "../../core/database/columns.js";
import { tenantId } from "../../core/database/tenant-column.js";

/**
 * Invitations to join a tenant: the secret is mailed and shown once, and stored only as its
 * SHA-256. Single use (accepted_at), revocable (revoked_at), valid 7 days (expires_at).
 */
export const invitations = pgTable(
  "invitations",
  {
    tenantId: tenantId(),
    id: id(),
    email: text("email").notNull(),
    /** The roles the invitee gets; roles deleted since are skipped at acceptance. */
    roleIds: uuid("role_ids").array().notNull(),
    tokenHash: text("token_hash").notNull(),
    invitedBy: uuid("invited_by"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
    acceptedAt: timestamp("accepted_at", { withTimezone: true, mode: "date" }),
    acceptedBy: uuid("accepted_by"),
    revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
  },
  (table) => [
    primaryKey({ name: "invitations_pkey", columns: [table.tenantId, table.id] }),
    // Looked up by token across tenants at acceptance (as app_system). Not a unique key, which
    // would have to lead with tenant_id: a 256-bit secret's hash does not collide.
    index("invitations_token_hash_idx").on(table.tokenHash),
    index("invitations_tenant_email_idx").on(table.tenantId, sql`lower(${table.email})`),
    check("invitations_email_length", sql`char_length(${table.email}) between 3 and 320`),
  ],
);

export type InvitationRow = typeof invitations.$inferSelect;
