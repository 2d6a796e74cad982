import { and, asc, eq, gt, isNull, lt, or, sql } from "drizzle-orm";
import type { Db } from "../../core/database/index.js";
import { type InvitationRow, invitations } from "./invitations.table.js";

/** The current tenant's invitations, inside a tenant transaction. */
export function invitationsRepository(db: Db, tenantId: string) {
  const pending = and(
    isNull(invitations.acceptedAt),
    isNull(invitations.revokedAt),
    gt(invitations.expiresAt, sql`now()`),
  );
  return {
    async insert(input: {
      email: string;
      roleIds: string[];
      tokenHash: string;
      invitedBy: string | null;
      expiresAt: Date;
    }): Promise<InvitationRow> {
      const [row] = await db
        .insert(invitations)
        .values({ tenantId, ...input })
        .returning();
      if (!row) throw new Error("insert returned no row");
      return row;
    },
    listPending(limit: number, after: string | undefined): Promise<InvitationRow[]> {
      return db
        .select()
        .from(invitations)
        .where(and(pending, after ? gt(invitations.id, after) : undefined))
        .orderBy(asc(invitations.id))
        .limit(limit);
    },
    async revoke(id: string): Promise<boolean> {
      const revoked = await db
        .update(invitations)
        .set({ revokedAt: sql`now()` })
        .where(and(eq(invitations.id, id), pending))
        .returning({ id: invitations.id });
      return revoked.length > 0;
    },
  };
}

/** Acceptance: an invitation by its token, in any tenant. Only inside `bypassTenantIsolation`. */
export function invitationsSystemRepository(db: Db) {
  return {
    /** Invitations that ended (accepted, revoked or expired) before `cutoff`. */
    async deleteEndedBefore(cutoff: Date): Promise<number> {
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
    /** Marks the invitation accepted by `userId`, once; returns it, or undefined. */
    async accept(tokenHash: string, userId: string): Promise<InvitationRow | undefined> {
      const [row] = await db
        .update(invitations)
        .set({ acceptedAt: sql`now()`, acceptedBy: userId })
        .where(
          and(
            eq(invitations.tokenHash, tokenHash),
            isNull(invitations.acceptedAt),
            isNull(invitations.revokedAt),
            gt(invitations.expiresAt, sql`now()`),
          ),
        )
        .returning();
      return row;
    },
  };
}
