import { and, asc, eq, gt, isNull, lt, or, sql } from "drizzle-orm";
import {
  memberships,
  type SystemTx,
  type TenantTx,
  tenants,
  users,
} from "../../core/database/index.js";
import type { InvitationsMade, InvitationWindows } from "./invitation-limits.js";
import { type InvitationRow, invitations } from "./invitations.table.js";

export type { InvitationRow };

/** Neither accepted nor revoked: what the unique index on an address counts (migration 0017). */
const open = and(isNull(invitations.acceptedAt), isNull(invitations.revokedAt));
/** Open and not expired: an invitation that can still be accepted. */
const pending = and(open, gt(invitations.expiresAt, sql`now()`));
const sameAddress = (email: string) => sql`lower(${invitations.email}) = lower(${email})`;

/**
 * The invitations of the tenant `tx` was opened for. Every statement filters on that tenant
 * (the scoped builders of TenantTx), and row-level security filters again.
 */
export const invitationsRepository = {
  async insert(
    tx: TenantTx,
    input: {
      email: string;
      roleIds: string[];
      tokenHash: string;
      invitedBy: string | null;
      expiresAt: Date;
    },
  ): Promise<InvitationRow> {
    const [row] = await tx.insert(invitations).values(input).returning();
    if (!row) throw new Error("insert returned no row");
    return row;
  },
  listPending(tx: TenantTx, limit: number, after: string | undefined): Promise<InvitationRow[]> {
    return tx
      .select()
      .from(invitations, pending, after ? gt(invitations.id, after) : undefined)
      .orderBy(asc(invitations.id))
      .limit(limit);
  },
  async revoke(tx: TenantTx, id: string): Promise<boolean> {
    const revoked = await tx
      .update(invitations)
      .set({ revokedAt: sql`now()` })
      .where(eq(invitations.id, id), pending)
      .returning({ id: invitations.id });
    return revoked.length > 0;
  },
  /**
   * Serialises invitations to one address in this tenant until the transaction ends, so
   * that each replaces the one before instead of meeting it at the unique index.
   */
  async lockAddress(tx: TenantTx, email: string): Promise<void> {
    await tx.execute(
      sql`select pg_advisory_xact_lock(hashtext(${`invitation:${tx.tenantId}:`} || lower(${email})))`,
    );
  },
  /** Revokes the open invitations to `email` (expired ones too); returns how many. */
  async revokeOpenTo(tx: TenantTx, email: string): Promise<number> {
    const revoked = await tx
      .update(invitations)
      .set({ revokedAt: sql`now()` })
      .where(sameAddress(email), open)
      .returning({ id: invitations.id });
    return revoked.length;
  },
  /** Invitations made (whatever became of them) by `inviterId` and in the tenant since. */
  async countMadeSince(
    tx: TenantTx,
    inviterId: string,
    since: InvitationWindows,
  ): Promise<InvitationsMade> {
    const [row] = await tx
      .select({
        byInviterLastHour: sql<number>`count(*) filter (where ${invitations.invitedBy} = ${inviterId} and ${invitations.createdAt} > ${since.inviter})::int`,
        inTenantLastDay: sql<number>`count(*)::int`,
      })
      .from(invitations, gt(invitations.createdAt, since.tenant));
    return row ?? { byInviterLastHour: 0, inTenantLastDay: 0 };
  },
  async isMember(tx: TenantTx, email: string): Promise<boolean> {
    const [member] = await tx
      .select({ userId: memberships.userId })
      .from(memberships, sql`lower(${users.email}) = lower(${email})`)
      .innerJoin(users, eq(users.id, memberships.userId));
    return member !== undefined;
  },
  /** What an invitation needs of the signed-in user sending it (the transaction's user). */
  async inviter(tx: TenantTx): Promise<{ name: string; emailVerified: boolean } | undefined> {
    const [row] = await tx
      .select({ name: users.name, emailVerifiedAt: users.emailVerifiedAt })
      .from(users);
    return row && { name: row.name, emailVerified: row.emailVerifiedAt !== null };
  },
  async tenantName(tx: TenantTx): Promise<string | undefined> {
    const [row] = await tx.select({ name: tenants.name }).from(tenants);
    return row?.name;
  },
};

/**
 * Acceptance and the daily cleanup: invitations by their token, in any tenant, inside
 * `bypassTenantIsolation`. Row-level security does not apply there, so every function but the
 * token lookup and the cleanup names its tenant.
 */
const byId = (tenantId: string, id: string) =>
  and(eq(invitations.tenantId, tenantId), eq(invitations.id, id));

export const invitationsSystemRepository = {
  /** Invitations that ended (accepted, revoked or expired) before `cutoff`. */
  async deleteEndedBefore(db: SystemTx, cutoff: Date): Promise<number> {
    const deleted = await db
      .delete(invitations)
      .where(
        or(
          lt(invitations.expiresAt, cutoff),
          lt(invitations.acceptedAt, cutoff),
          lt(invitations.revokedAt, cutoff),
        ),
      )
      .returning({ id: invitations.id });
    return deleted.length;
  },
  /**
   * The pending invitation with this token hash, locked until the transaction ends: a
   * concurrent acceptance waits, then finds it no longer pending.
   */
  async findPendingForUpdate(db: SystemTx, tokenHash: string): Promise<InvitationRow | undefined> {
    const [row] = await db
      .select()
      .from(invitations)
      .where(and(eq(invitations.tokenHash, tokenHash), pending))
      .for("update");
    return row;
  },
  async markAccepted(db: SystemTx, tenantId: string, id: string, userId: string): Promise<void> {
    await db
      .update(invitations)
      .set({ acceptedAt: sql`now()`, acceptedBy: userId })
      .where(byId(tenantId, id));
  },
  async revoke(db: SystemTx, tenantId: string, id: string): Promise<void> {
    await db.update(invitations).set({ revokedAt: sql`now()` }).where(byId(tenantId, id));
  },
  async user(
    db: SystemTx,
    userId: string,
  ): Promise<{ email: string; emailVerified: boolean } | undefined> {
    const [row] = await db
      .select({ email: users.email, emailVerifiedAt: users.emailVerifiedAt })
      .from(users)
      .where(eq(users.id, userId));
    return row && { email: row.email, emailVerified: row.emailVerifiedAt !== null };
  },
  async tenant(db: SystemTx, tenantId: string) {
    const [row] = await db
      .select({ id: tenants.id, name: tenants.name, slug: tenants.slug, status: tenants.status })
      .from(tenants)
      .where(eq(tenants.id, tenantId));
    return row;
  },
  async isMember(db: SystemTx, tenantId: string, userId: string): Promise<boolean> {
    const [row] = await db
      .select({ userId: memberships.userId })
      .from(memberships)
      .where(and(eq(memberships.tenantId, tenantId), eq(memberships.userId, userId)));
    return row !== undefined;
  },
  async addMember(db: SystemTx, tenantId: string, userId: string): Promise<void> {
    await db.insert(memberships).values({ tenantId, userId });
  },
  /**
   * Whether `userId` is an active user and an active member of the tenant, and a platform
   * admin; undefined when not such a member.
   */
  async memberStanding(
    db: SystemTx,
    tenantId: string,
    userId: string,
  ): Promise<{ platformAdmin: boolean } | undefined> {
    const [row] = await db
      .select({ platformAdmin: users.isPlatformAdmin })
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .where(
        and(
          eq(memberships.tenantId, tenantId),
          eq(memberships.userId, userId),
          eq(memberships.status, "active"),
          eq(users.isActive, true),
        ),
      );
    return row;
  },
};
