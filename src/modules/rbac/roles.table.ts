import { sql } from "drizzle-orm";
import {
  boolean,
  check,
  foreignKey,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { id, timestamps } from "../../core/database/columns.js";
import { memberships } from "../../core/database/memberships.table.js";
import { tenantId } from "../../core/database/tenant-column.js";

/** A tenant's roles: the four defaults (system, immutable) and any the tenant adds. */
export const roles = pgTable(
  "roles",
  {
    tenantId: tenantId(),
    id: id(),
    name: text("name").notNull(),
    description: text("description").notNull().default(""),
    system: boolean("system").notNull().default(false),
    ...timestamps(),
  },
  (table) => [
    primaryKey({ name: "roles_pkey", columns: [table.tenantId, table.id] }),
    uniqueIndex("roles_tenant_id_name_key").on(table.tenantId, table.name),
    check("roles_name_length", sql`char_length(${table.name}) between 1 and 64`),
    check("roles_description_length", sql`char_length(${table.description}) <= 500`),
  ],
);

/** What a role grants: catalog permissions (`items:read`) or wildcards (`items:*`, `*`). */
export const rolePermissions = pgTable(
  "role_permissions",
  {
    tenantId: tenantId(),
    roleId: uuid("role_id").notNull(),
    permission: text("permission").notNull(),
  },
  (table) => [
    primaryKey({
      name: "role_permissions_pkey",
      columns: [table.tenantId, table.roleId, table.permission],
    }),
    foreignKey({
      name: "role_permissions_role_fkey",
      columns: [table.tenantId, table.roleId],
      foreignColumns: [roles.tenantId, roles.id],
    }).onDelete("cascade"),
  ],
);

/** The roles a member holds in the tenant (several at once). */
export const memberRoles = pgTable(
  "member_roles",
  {
    tenantId: tenantId(),
    userId: uuid("user_id").notNull(),
    roleId: uuid("role_id").notNull(),
  },
  (table) => [
    primaryKey({
      name: "member_roles_pkey",
      columns: [table.tenantId, table.userId, table.roleId],
    }),
    foreignKey({
      name: "member_roles_membership_fkey",
      columns: [table.tenantId, table.userId],
      foreignColumns: [memberships.tenantId, memberships.userId],
    }).onDelete("cascade"),
    foreignKey({
      name: "member_roles_role_fkey",
      columns: [table.tenantId, table.roleId],
      foreignColumns: [roles.tenantId, roles.id],
    }).onDelete("cascade"),
  ],
);

export type RoleRow = typeof roles.$inferSelect;
