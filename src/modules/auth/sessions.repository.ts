import { and, eq, isNull, lt, ne, or, sql } from "drizzle-orm";
import { type SessionRow, type SystemTx, sessions } from "../../core/database/index.js";
import { type RefreshTokenRow, refreshTokens } from "./refresh-tokens.table.js";

/** Sessions and their refresh tokens. Only inside `bypassTenantIsolation` (sign-in paths). */
export const sessionsRepository = {
  async create(
    db: SystemTx,
    input: {
      userId: string;
      currentTenantId: string | null;
      userAgent: string | null;
      ip: string | null;
      expiresAt: Date;
    },
  ): Promise<SessionRow> {
    const [row] = await db.insert(sessions).values(input).returning();
    if (!row) throw new Error("insert returned no row");
    return row;
  },

  async addRefreshToken(
    db: SystemTx,
    input: { sessionId: string; tokenHash: string; expiresAt: Date },
  ) {
    await db.insert(refreshTokens).values(input);
  },

  /**
   * The refresh token with this hash and its session, locked until the transaction ends, so
   * concurrent refreshes with one token take turns.
   */
  async lockRefreshToken(
    db: SystemTx,
    tokenHash: string,
  ): Promise<{ token: RefreshTokenRow; session: SessionRow } | undefined> {
    const [row] = await db
      .select({ token: refreshTokens, session: sessions })
      .from(refreshTokens)
      .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
      .where(eq(refreshTokens.tokenHash, tokenHash))
      .for("update");
    return row;
  },

  async findRefreshToken(db: SystemTx, tokenHash: string): Promise<RefreshTokenRow | undefined> {
    return (await db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash)))[0];
  },

  async markRotated(db: SystemTx, tokenId: string, at: Date): Promise<void> {
    await db.update(refreshTokens).set({ rotatedAt: at }).where(eq(refreshTokens.id, tokenId));
  },

  async touch(
    db: SystemTx,
    sessionId: string,
    changes: { expiresAt: Date; currentTenantId?: string | null; ip: string | null },
  ) {
    await db
      .update(sessions)
      .set({ ...changes, lastUsedAt: sql`now()` })
      .where(eq(sessions.id, sessionId));
  },

  async find(db: SystemTx, sessionId: string): Promise<SessionRow | undefined> {
    return (await db.select().from(sessions).where(eq(sessions.id, sessionId)))[0];
  },

  /** Revokes one session; undefined when it was already revoked or does not exist. */
  async revoke(db: SystemTx, sessionId: string, reason: string) {
    const [revoked] = await db
      .update(sessions)
      .set({ revokedAt: sql`now()`, revokedReason: reason })
      .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
      .returning({
        id: sessions.id,
        userId: sessions.userId,
        tenantId: sessions.currentTenantId,
      });
    return revoked;
  },

  /** Revokes every live session of a user, except `keep`; returns how many. */
  async revokeAllOf(db: SystemTx, userId: string, reason: string, keep?: string): Promise<number> {
    const revoked = await db
      .update(sessions)
      .set({ revokedAt: sql`now()`, revokedReason: reason })
      .where(
        and(
          eq(sessions.userId, userId),
          isNull(sessions.revokedAt),
          keep ? ne(sessions.id, keep) : undefined,
        ),
      )
      .returning({ id: sessions.id });
    return revoked.length;
  },

  /** Refresh tokens (rotated ones included) that expired before `cutoff`. */
  async deleteRefreshTokensExpiredBefore(db: SystemTx, cutoff: Date): Promise<number> {
    const deleted = await db
      .delete(refreshTokens)
      .where(lt(refreshTokens.expiresAt, cutoff))
      .returning({ id: refreshTokens.id });
    return deleted.length;
  },

  /** Sessions that ended (expired, or revoked) before `cutoff`; their tokens cascade. */
  async deleteEndedBefore(db: SystemTx, cutoff: Date): Promise<number> {
    const deleted = await db
      .delete(sessions)
      .where(or(lt(sessions.expiresAt, cutoff), lt(sessions.revokedAt, cutoff)))
      .returning({ id: sessions.id });
    return deleted.length;
  },
};
