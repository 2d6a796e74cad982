import { index, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { id } from "../../core/database/columns.js";
import { sessions } from "../../core/database/sessions.table.js";

/**
 * The refresh tokens of a session, stored only as SHA-256 hashes. The newest is live; the
 * others have been rotated, and presenting one after the grace window revokes the session.
 */
export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    id: id().primaryKey(),
    sessionId: uuid("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    tokenHash: text("token_hash").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
    rotatedAt: timestamp("rotated_at", { withTimezone: true, mode: "date" }),
  },
  (table) => [
    uniqueIndex("refresh_tokens_token_hash_key").on(table.tokenHash),
    index("refresh_tokens_session_id_idx").on(table.sessionId),
  ],
);

export type RefreshTokenRow = typeof refreshTokens.$inferSelect;
