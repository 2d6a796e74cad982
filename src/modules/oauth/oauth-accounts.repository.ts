import { and, asc, eq, sql } from "drizzle-orm";
import type { SystemTx } from "../../core/database/index.js";
import { type OAuthAccountRow, oauthAccounts } from "./oauth-accounts.table.js";

export type { OAuthAccountRow };

/** Linked provider accounts. Only inside `bypassTenantIsolation`: the table is app_system's. */
export const oauthAccountsRepository = {
  async find(
    db: SystemTx,
    provider: string,
    providerAccountId: string,
  ): Promise<OAuthAccountRow | undefined> {
    const rows = await db
      .select()
      .from(oauthAccounts)
      .where(
        and(
          eq(oauthAccounts.provider, provider),
          eq(oauthAccounts.providerAccountId, providerAccountId),
        ),
      );
    return rows[0];
  },
  async insert(
    db: SystemTx,
    input: {
      userId: string;
      provider: string;
      providerAccountId: string;
      email: string | null;
    },
  ): Promise<OAuthAccountRow> {
    const [row] = await db.insert(oauthAccounts).values(input).returning();
    if (!row) throw new Error("insert returned no row");
    return row;
  },
  async touch(db: SystemTx, id: string): Promise<void> {
    await db.update(oauthAccounts).set({ lastUsedAt: sql`now()` }).where(eq(oauthAccounts.id, id));
  },
  async listOf(db: SystemTx, userId: string): Promise<OAuthAccountRow[]> {
    return db
      .select()
      .from(oauthAccounts)
      .where(eq(oauthAccounts.userId, userId))
      .orderBy(asc(oauthAccounts.provider));
  },
  async remove(db: SystemTx, userId: string, provider: string): Promise<boolean> {
    const removed = await db
      .delete(oauthAccounts)
      .where(and(eq(oauthAccounts.userId, userId), eq(oauthAccounts.provider, provider)))
      .returning({ id: oauthAccounts.id });
    return removed.length > 0;
  },
};
