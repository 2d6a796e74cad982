import { and, eq, sql } from "drizzle-orm";
import {
  memberships,
  param,
  prepareStatement,
  type SystemTx,
  type TenantDatabase,
  tenants,
  type UserRow,
  users,
} from "../../core/database/index.js";

/** Emails are unique case-insensitively (the users_email_key index is on lower(email)). */
const sameEmail = (email: string) => sql`lower(${users.email}) = lower(${email})`;

/** Users across tenants: sign-in, registration, password changes. Only inside `bypassTenantIsolation`. */
export const usersSystemRepository = {
  async findByEmail(db: SystemTx, email: string): Promise<UserRow | undefined> {
    return (await db.select().from(users).where(sameEmail(email)).limit(1))[0];
  },
  async findById(db: SystemTx, id: string): Promise<UserRow | undefined> {
    return (await db.select().from(users).where(eq(users.id, id)))[0];
  },
  async insert(
    db: SystemTx,
    input: {
      email: string;
      name: string;
      passwordHash: string | null;
      emailVerifiedAt?: Date | null;
    },
  ): Promise<UserRow> {
    const [row] = await db.insert(users).values(input).returning();
    if (!row) throw new Error("insert returned no row");
    return row;
  },
  async rename(db: SystemTx, id: string, name: string): Promise<UserRow | undefined> {
    return (await db.update(users).set({ name }).where(eq(users.id, id)).returning())[0];
  },
  async setPasswordHash(db: SystemTx, id: string, passwordHash: string): Promise<void> {
    await db.update(users).set({ passwordHash }).where(eq(users.id, id));
  },
  /** Marks `email` verified, if it is still the user's address. */
  async markEmailVerified(db: SystemTx, id: string, email: string): Promise<boolean> {
    const updated = await db
      .update(users)
      .set({ emailVerifiedAt: sql`coalesce(${users.emailVerifiedAt}, now())` })
      .where(and(eq(users.id, id), sameEmail(email)))
      .returning({ id: users.id });
    return updated.length > 0;
  },
  /** The user's row, locked until the transaction ends (changes to the ways of signing in). */
  async lockById(db: SystemTx, id: string): Promise<UserRow | undefined> {
    return (await db.select().from(users).where(eq(users.id, id)).for("update"))[0];
  },
  async setLastTenant(db: SystemTx, id: string, tenantId: string): Promise<void> {
    await db.update(users).set({ lastTenantId: tenantId }).where(eq(users.id, id));
  },
  async setActive(db: SystemTx, id: string, isActive: boolean): Promise<boolean> {
    const updated = await db
      .update(users)
      .set({ isActive })
      .where(eq(users.id, id))
      .returning({ id: users.id });
    return updated.length > 0;
  },
};

export interface UserTenant {
  readonly id: string;
  readonly name: string;
  readonly slug: string;
}

/** The user's memberships in active tenants, joined to the tenant's name and slug. */
const activeTenantsOf = (db: SystemTx) =>
  db
    .select({ id: tenants.id, name: tenants.name, slug: tenants.slug })
    .from(memberships)
    .innerJoin(tenants, eq(tenants.id, memberships.tenantId));

/** A user's memberships across tenants. Only inside `bypassTenantIsolation`. */
export const membershipsSystemRepository = {
  /** The active tenants in which the user is an active member, oldest membership first. */
  async tenantsOf(db: SystemTx, userId: string): Promise<UserTenant[]> {
    return activeTenantsOf(db)
      .where(
        and(
          eq(memberships.userId, userId),
          eq(memberships.status, "active"),
          eq(tenants.status, "active"),
        ),
      )
      .orderBy(memberships.joinedAt);
  },
  async tenantOf(db: SystemTx, userId: string, tenantId: string): Promise<UserTenant | undefined> {
    const rows = await activeTenantsOf(db).where(
      and(
        eq(memberships.userId, userId),
        eq(memberships.tenantId, tenantId),
        eq(memberships.status, "active"),
        eq(tenants.status, "active"),
      ),
    );
    return rows[0];
  },
  async remove(db: SystemTx, userId: string, tenantId: string): Promise<boolean> {
    const deleted = await db
      .delete(memberships)
      .where(and(eq(memberships.userId, userId), eq(memberships.tenantId, tenantId)))
      .returning({ userId: memberships.userId });
    return deleted.length > 0;
  },
};

/**
 * What the tenant role may read of a user: the columns it is granted (migration
 * 0005_identity_security), never the password hash.
 */
const visibleColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  emailVerifiedAt: users.emailVerifiedAt,
  isActive: users.isActive,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt,
};

const findSelf = prepareStatement("users_find_self", users, (db) =>
  db
    .select(visibleColumns)
    .from(users)
    .where(eq(users.id, param("userId"))),
);
const renameSelf = prepareStatement("users_rename_self", users, (db) =>
  db
    .update(users)
    .set({ name: sql`${param("name")}` })
    .where(eq(users.id, param("userId")))
    .returning(visibleColumns),
);

/** The signed-in user's own row, through the tenant scope (row-level security applies). */
export const currentUserRepository = {
  async find(db: TenantDatabase): Promise<UserRow | undefined> {
    return (await db.rows(findSelf, { userId: db.scope.userId }))[0];
  },
  async rename(db: TenantDatabase, name: string): Promise<UserRow | undefined> {
    return (await db.rows(renameSelf, { userId: db.scope.userId, name }))[0];
  },
};
