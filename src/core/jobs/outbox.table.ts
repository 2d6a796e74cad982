import { sql } from "drizzle-orm";
import { index, integer, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { id } from "../database/columns.js";

/**
 * The transactional outbox: a job enqueued inside a database transaction is a row here,
 * committed or rolled back with the transaction's other writes. The relay moves committed rows
 * to the queue and deletes them. Not a tenant table: tenant transactions may only insert (no
 * select), and the tenant travels inside the envelope.
 */
export const jobOutbox = pgTable(
  "job_outbox",
  {
    id: id().primaryKey(),
    jobName: text("job_name").notNull(),
    envelope: jsonb("envelope").notNull().$type<{
      payload: unknown;
      tenantId?: string;
      userId?: string;
      requestId?: string;
      /** The enqueuer's trace context (tracing on): `{ traceparent, tracestate? }`. */
      trace?: { traceparent: string; tracestate?: string };
    }>(),
    /** The queue's job id; the outbox id when none was given (makes relaying idempotent). */
    jobKey: text("job_key"),
    delayMs: integer("delay_ms").notNull().default(0),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    /**
     * Set by earlier versions of the relay, which kept relayed rows; the relay now deletes them.
     * Such rows are skipped by the relay and deleted by the daily cleanup.
     */
    sentAt: timestamp("sent_at", { withTimezone: true, mode: "date" }),
  },
  (table) => [
    index("job_outbox_unsent_idx").on(table.id).where(sql`${table.sentAt} is null`),
    index("job_outbox_sent_at_idx").on(table.sentAt),
  ],
);
