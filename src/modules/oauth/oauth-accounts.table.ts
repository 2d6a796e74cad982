import { sql } from "drizzle-orm";
import { check, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { id } from "../../core/database/columns.js";
import { users } from "../../core/database/users.table.js";

/**
 * A user's accounts at OAuth providers: signing in with one finds the user by
 * (provider, provider_account_id), never by email. Global like users; only the sign-in paths
 * (app_system) read or write it.
 */
export const oauthAccounts = pgTable(
  "oauth_accounts",
  {
    id: id().primaryKey(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** The provider's name in the kit (`google`, `microsoft`, `github`). */
    provider: text("provider").notNull(),
    /** The provider's stable id of the account: the ID token's `sub`, or GitHub's user id. */
    providerAccountId: text("provider_account_id").notNull(),
    /** The address the provider gave when the account was linked, for display. */
    email: text("email"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    lastUsedAt: timestamp("last_used_at", { withTimezone: true, mode: "date" })
      .notNull()
      .defaultNow(),
  },
  (table) => [
    uniqueIndex("oauth_accounts_provider_account_key").on(table.provider, table.providerAccountId),
    // One account per provider and user, so DELETE /users/me/accounts/:provider names one row;
    // it also serves the lookups by user.
    uniqueIndex("oauth_accounts_user_provider_key").on(table.userId, table.provider),
    check("oauth_accounts_provider_format", sql`${table.provider} ~ '^[a-z][a-z0-9-]{0,31}$'`),
    check(
      "oauth_accounts_provider_account_id_length",
      sql`char_length(${table.providerAccountId}) between 1 and 255`,
    ),
    check("oauth_accounts_email_length", sql`char_length(${table.email}) <= 320`),
  ],
);

export type OAuthAccountRow = typeof oauthAccounts.$inferSelect;
