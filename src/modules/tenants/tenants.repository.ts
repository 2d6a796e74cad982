import { eq, like, or, sql } from "drizzle-orm";
import {
  param,
  prepareStatement,
  type SystemTx,
  type TenantDatabase,
  type TenantRow,
  tenants,
} from "../../core/database/index.js";

// Built once; `tenantId` always comes from the tenant scope.
const findCurrent = prepareStatement("tenants_find_current", tenants, (db) =>
  db
    .select()
    .from(tenants)
    .where(eq(tenants.id, param("tenantId"))),
);
const renameCurrent = prepareStatement("tenants_rename_current", tenants, (db) =>
  db
    .update(tenants)
    .set({ name: sql`${param("name")}` })
    .where(eq(tenants.id, param("tenantId")))
    .returning(),
);
const deleteCurrent = prepareStatement("tenants_delete_current", tenants, (db) =>
  db
    .delete(tenants)
    .where(eq(tenants.id, param("tenantId")))
    .returning(),
);

/** The caller's own tenant, through the tenant scope (row-level security applies). */
export const currentTenantRepository = {
  async find(db: TenantDatabase): Promise<TenantRow | undefined> {
    return (await db.rows(findCurrent))[0];
  },
  async rename(db: TenantDatabase, name: string): Promise<TenantRow | undefined> {
    return (await db.rows(renameCurrent, { name }))[0];
  },
  /** Deletes the tenant; foreign keys cascade to every row of the tenant. */
  async remove(db: TenantDatabase): Promise<boolean> {
    return (await db.rows(deleteCurrent)).length > 0;
  },
};

/** Tenant rows across tenants; only for code running in `bypassTenantIsolation`. */
export const tenantsAdminRepository = {
  async slugsLike(db: SystemTx, base: string): Promise<Set<string>> {
    const rows = await db
      .select({ slug: tenants.slug })
      .from(tenants)
      .where(or(eq(tenants.slug, base), like(tenants.slug, `${base}-%`)));
    return new Set(rows.map((row) => row.slug));
  },
  async insert(db: SystemTx, values: { name: string; slug: string; plan?: TenantRow["plan"] }) {
    const [row] = await db.insert(tenants).values(values).returning();
    return row as TenantRow;
  },
};
