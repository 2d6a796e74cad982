import { sql } from "drizzle-orm";
import { check, index, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { id } from "../../core/database/columns.js";
import { users } from "../../core/database/users.table.js";

export const ONE_TIME_TOKEN_PURPOSES = ["password-reset", "email-verification"] as const;
export type OneTimeTokenPurpose = (typeof ONE_TIME_TOKEN_PURPOSES)[number];

/** Mailed single-use tokens (password reset, email verification), stored only as hashes. */
export const oneTimeTokens = pgTable(
  "one_time_tokens",
  {
    id: id().primaryKey(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    purpose: text("purpose", { enum: ONE_TIME_TOKEN_PURPOSES }).notNull(),
    tokenHash: text("token_hash").notNull(),
    /** For email verification: the address the token proves. */
    email: text("email"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
    usedAt: timestamp("used_at", { withTimezone: true, mode: "date" }),
  },
  (table) => [
    uniqueIndex("one_time_tokens_token_hash_key").on(table.tokenHash),
    index("one_time_tokens_user_id_idx").on(table.userId, table.purpose),
    check(
      "one_time_tokens_purpose_check",
      sql`${table.purpose} in ('password-reset', 'email-verification')`,
    ),
  ],
);
