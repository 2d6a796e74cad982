import { isNotNull } from "drizzle-orm";
import { z } from "zod";
import type { SystemTx } from "../database/index.js";
import { defineCron, defineJob } from "./define.js";
import { jobOutbox } from "./outbox.table.js";

/** One kind of row that expires, and how to delete the expired ones. Returns the count. */
export interface ExpiredRowsCleanup {
  readonly name: string;
  run(db: SystemTx, now: Date): Promise<number>;
}

/**
 * The relay deletes the rows it relays. Rows with `sent_at` set were relayed by an earlier
 * version of the kit, which kept them (their payloads unsealed): deleted at the next cleanup.
 */
export const sentOutboxCleanup: ExpiredRowsCleanup = {
  name: "sent outbox rows",
  async run(db) {
    const deleted = await db
      .delete(jobOutbox)
      .where(isNotNull(jobOutbox.sentAt))
      .returning({ id: jobOutbox.id });
    return deleted.length;
  },
};

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
    name: "cleanup-expired-tokens",
    pattern: "0 3 * * *",
    job: cleanupExpired,
    payload: {},
  }),
];
