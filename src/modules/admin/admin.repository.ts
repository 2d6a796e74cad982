import { asc, eq, gt, sql } from "drizzle-orm";
import { type SystemTx, type TenantRow, tenants, users } from "../../core/database/index.js";

/** Tenants across the platform; only inside `bypassTenantIsolation`. */
export const platformTenantsRepository = {
  list(db: SystemTx, limit: number, after: string | undefined): Promise<TenantRow[]> {
    return db
      .select()
      .from(tenants)
      .where(after ? gt(tenants.id, after) : undefined)
      .orderBy(asc(tenants.id))
      .limit(limit);
  },
  async setStatus(
    db: SystemTx,
    id: string,
    status: TenantRow["status"],
  ): Promise<TenantRow | undefined> {
    const [row] = await db.update(tenants).set({ status }).where(eq(tenants.id, id)).returning();
    return row;
  },
};

const adminColumns = { id: users.id, email: users.email, name: users.name };

/** Who administers the platform (`users.is_platform_admin`); only inside `bypassTenantIsolation`. */
export const platformAdminsRepository = {
  list(db: SystemTx): Promise<{ id: string; email: string; name: string }[]> {
    return db
      .select(adminColumns)
      .from(users)
      .where(eq(users.isPlatformAdmin, true))
      .orderBy(asc(users.email));
  },
  /** Sets the flag of the user with this email (in any letter case); undefined for none. */
  async set(
    db: SystemTx,
    email: string,
    platformAdmin: boolean,
  ): Promise<{ id: string; email: string; name: string } | undefined> {
    const [row] = await db
      .update(users)
      .set({ isPlatformAdmin: platformAdmin })
      .where(sql`lower(${users.email}) = lower(${email})`)
      .returning(adminColumns);
    return row;
  },
};
