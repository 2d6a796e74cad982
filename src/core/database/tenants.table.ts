import { sql } from "drizzle-orm";
import { check, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { id, timestamps } from "./columns.js";

/**
 * The tenants themselves. Tenancy is part of the core (every tenant table references it),
 * so the table lives here; the tenants module owns its routes and service.
 */
export const TENANT_PLANS = ["free", "pro", "enterprise"] as const;
export const TENANT_STATUSES = ["active", "suspended"] as const;
export type TenantPlan = (typeof TENANT_PLANS)[number];

export const tenants = pgTable(
  "tenants",
  {
    id: id().primaryKey(),
    name: text("name").notNull(),
    slug: text("slug").notNull(),
    plan: text("plan", { enum: TENANT_PLANS }).notNull().default("free"),
    status: text("status", { enum: TENANT_STATUSES }).notNull().default("active"),
    ...timestamps(),
  },
  (table) => [
    uniqueIndex("tenants_slug_key").on(table.slug),
    check("tenants_plan_check", sql`${table.plan} in ('free', 'pro', 'enterprise')`),
    check("tenants_status_check", sql`${table.status} in ('active', 'suspended')`),
    check("tenants_name_length", sql`char_length(${table.name}) between 1 and 200`),
  ],
);

export type TenantRow = typeof tenants.$inferSelect;
