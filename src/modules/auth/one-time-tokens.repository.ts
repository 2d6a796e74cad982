import { and, eq, gt, isNull, lt, or, sql } from "drizzle-orm";
import type { SystemTx } from "../../core/database/index.js";
import { type OneTimeTokenPurpose, oneTimeTokens } from "./one-time-tokens.table.js";

export type { OneTimeTokenPurpose };

/** Marks every unused token of the user for `purpose` used: no link of theirs works. */
async function retireUnused(
  db: SystemTx,
  userId: string,
  purpose: OneTimeTokenPurpose,
): Promise<number> {
  const retired = await db
    .update(oneTimeTokens)
    .set({ usedAt: sql`now()` })
    .where(
      and(
        eq(oneTimeTokens.userId, userId),
        eq(oneTimeTokens.purpose, purpose),
        isNull(oneTimeTokens.usedAt),
      ),
    )
    .returning({ id: oneTimeTokens.id });
  return retired.length;
}

/** The token of that hash and purpose, while unused and unexpired. */
const liveToken = (tokenHash: string, purpose: OneTimeTokenPurpose) =>
  and(
    eq(oneTimeTokens.tokenHash, tokenHash),
    eq(oneTimeTokens.purpose, purpose),
    isNull(oneTimeTokens.usedAt),
    gt(oneTimeTokens.expiresAt, sql`now()`),
  );

/** Mailed single-use tokens. Only inside `bypassTenantIsolation`. */
export const oneTimeTokensRepository = {
  /** Stores a new token and retires the user's earlier unused ones of the same purpose. */
  async issue(
    db: SystemTx,
    input: {
      userId: string;
      purpose: OneTimeTokenPurpose;
      tokenHash: string;
      email: string | null;
      expiresAt: Date;
    },
  ): Promise<void> {
    await retireUnused(db, input.userId, input.purpose);
    await db.insert(oneTimeTokens).values(input);
  },

  retireUnused,

  /** The user of a token that would be consumed now, without consuming it. */
  async findLive(db: SystemTx, tokenHash: string, purpose: OneTimeTokenPurpose) {
    const [row] = await db
      .select({ userId: oneTimeTokens.userId })
      .from(oneTimeTokens)
      .where(liveToken(tokenHash, purpose));
    return row;
  },

  /**
   * Uses the token once: marks it used and returns it, or undefined when it is unknown,
   * already used, expired or of another purpose. One UPDATE, so two uses cannot both win.
   */
  async consume(db: SystemTx, tokenHash: string, purpose: OneTimeTokenPurpose) {
    const [row] = await db
      .update(oneTimeTokens)
      .set({ usedAt: sql`now()` })
      .where(liveToken(tokenHash, purpose))
      .returning({ userId: oneTimeTokens.userId, email: oneTimeTokens.email });
    return row;
  },

  /** Tokens expired or used before `cutoff`. */
  async deleteEndedBefore(db: SystemTx, cutoff: Date): Promise<number> {
    const deleted = await db
      .delete(oneTimeTokens)
      .where(or(lt(oneTimeTokens.expiresAt, cutoff), lt(oneTimeTokens.usedAt, cutoff)))
      .returning({ id: oneTimeTokens.id });
    return deleted.length;
  },
};
