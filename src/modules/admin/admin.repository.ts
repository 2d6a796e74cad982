import { asc, eq, gt, sql } from "drizzle-orm";
import { type SystemTx, type TenantRow, tenants, users } from "../../core/database/index.js";

/** Tenants across the platform; only inside `bypassTenantIsolation`. */
export function platformTenantsRepository(db: SystemTx) {
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

/** Who administers the platform (`users.is_platform_admin`); only inside `bypassTenantIsolation`. */
export function platformAdminsRepository(db: SystemTx) {
  const columns = { id: users.id, email: users.email, name: users.name };
  return {
    list(): Promise<{ id: string; email: string; name: string }[]> {
      return db
        .select(columns)
        .from(users)
        .where(eq(users.isPlatformAdmin, true))
        .orderBy(asc(users.email));
    },
    /** Sets the flag of the user with this email (in any letter case); undefined for none. */
    async set(
      email: string,
      platformAdmin: boolean,
    ): Promise<{ id: string; email: string; name: string } | undefined> {
      const [row] = await db
        .update(users)
        .set({ isPlatformAdmin: platformAdmin })
        .where(sql`lower(${users.email}) = lower(${email})`)
        .returning(columns);
      return row;
    },
  };
}
