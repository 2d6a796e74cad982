import { asc, eq, gt } from "drizzle-orm";
import { type Db, type TenantRow, tenants } from "../../core/database/index.js";

/** Tenants across the platform; only inside `bypassTenantIsolation`. */
export function platformTenantsRepository(db: Db) {
  return {
    list(limit: number, after: string | undefined): Promise<TenantRow[]> {
      return db
        .select()
        .from(tenants)
        .where(after ? gt(tenants.id, after) : undefined)
        .orderBy(asc(tenants.id))
        .limit(limit);
    },
    async setStatus(id: string, status: TenantRow["status"]): Promise<TenantRow | undefined> {
      const [row] = await db.update(tenants).set({ status }).where(eq(tenants.id, id)).returning();
      return row;
    },
  };
}
