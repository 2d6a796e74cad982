import { and, isNotNull, lt } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "../database/index.js";
import { defineCron, defineJob } from "./define.js";
import { jobOutbox } from "./outbox.table.js";

/** Sent outbox rows are kept this long for inspection, then deleted. */
export const SENT_OUTBOX_RETENTION_HOURS = 24;

/** One kind of row that expires, and how to delete the expired ones. Returns the count. */
export interface ExpiredRowsCleanup {
  readonly name: string;
  run(db: Db, now: Date): Promise<number>;
}

export const sentOutboxCleanup: ExpiredRowsCleanup = {
  name: "sent outbox rows",
  async run(db, now) {
    const cutoff = new Date(now.getTime() - SENT_OUTBOX_RETENTION_HOURS * 3_600_000);
    const deleted = await db
      .delete(jobOutbox)
      .where(and(isNotNull(jobOutbox.sentAt), lt(jobOutbox.sentAt, cutoff)))
      .returning({ id: jobOutbox.id });
    return deleted.length;
  },
};

export const purgeSentOutboxJob = defineJob({
  name: "purge-sent-outbox",
  schema: z.object({}),
  attempts: 3,
  async handler(_payload, { database, log }) {
    const deleted = await database.bypassTenantIsolation("outbox purge", (db) =>
      sentOutboxCleanup.run(db, new Date()),
    );
    log.info({ deleted }, "purged sent outbox rows");
  },
});

/**
 * The daily cleanup of expired rows: every kind of expiring row the kit has registers an
 * ExpiredRowsCleanup here (sessions and one-time tokens join the outbox as they are added).
 */
export function createCleanupExpiredJob(cleanups: readonly ExpiredRowsCleanup[]) {
  return defineJob({
    name: "cleanup-expired-tokens",
    schema: z.object({}),
    attempts: 3,
    async handler(_payload, { database, log }) {
      const now = new Date();
      for (const cleanup of cleanups) {
        const deleted = await database.bypassTenantIsolation(`cleanup: ${cleanup.name}`, (db) =>
          cleanup.run(db, now),
        );
        log.info({ cleanup: cleanup.name, deleted }, "deleted expired rows");
      }
    },
  });
}

export const maintenanceCrons = (cleanupExpired: ReturnType<typeof createCleanupExpiredJob>) => [
  defineCron({
    name: "purge-sent-outbox",
    pattern: "17 * * * *",
    job: purgeSentOutboxJob,
    payload: {},
  }),
  defineCron({
    name: "cleanup-expired-tokens",
    pattern: "0 3 * * *",
    job: cleanupExpired,
    payload: {},
  }),
];
