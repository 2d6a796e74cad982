import { uuid } from "drizzle-orm/pg-core";
import { tenants } from "./tenants.table.js";

/**
 * `tenant_id uuid not null references tenants on delete cascade`. Tenant tables put it first
 * in their primary key, unique constraints, indexes and foreign keys (see docs/tenancy.md).
 */
export const tenantId = () =>
  uuid("tenant_id")
    .notNull()
    .references(() => tenants.id, { onDelete: "cascade" });
