import { asc, inArray, isNull } from "drizzle-orm";
import type { FastifyBaseLogger } from "fastify";
import type { Database } from "../database/index.js";
import { outboxMetrics } from "../observability/kit-metrics.js";
import { withSpan } from "../observability/tracing.js";
import { jobOutbox } from "./outbox.table.js";
import { settlesWithin } from "./settles-within.js";
import type { JobTransport } from "./transport.js";

export interface OutboxRelay {
  /** Moves one batch of committed outbox rows to the transport; returns how many. */
  relayOnce(): Promise<number>;
  start(): void;
  /**
   * Stops relaying, and waits for the running pass at most `waitMs` (default 5 s); a pass
   * still running then is abandoned (logged), and its rows stay in the outbox.
   */
  stop(options?: { waitMs?: number }): Promise<void>;
}

const DEFAULT_STOP_WAIT_MS = 5_000;

/**
 * Moves committed outbox rows to the queue and deletes them, in one transaction that locks the
 * rows it handles (SKIP LOCKED, so several relays share the work). The queue's job id is the
 * outbox id: if the relay dies after publishing but before its commit, the next run publishes
 * the same id again and the queue keeps one job. If the queue is unreachable, the rows stay
 * and are retried, so an outage delays jobs and loses none. Rows with `sent_at` set were
 * relayed by an earlier version of the kit, which kept them: they are skipped (and deleted by
 * the daily cleanup).
 */
export function createOutboxRelay(options: {
  database: Database;
  transport: JobTransport;
  logger: FastifyBaseLogger;
  intervalMs?: number;
  batchSize?: number;
  /** Called after publishing, before deleting the rows (tests simulate a crash there). */
  afterPublish?: () => Promise<void>;
}): OutboxRelay {
  const intervalMs = options.intervalMs ?? 500;
  const batchSize = options.batchSize ?? 100;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> = Promise.resolve();
  let stopped = true;
  let failures = 0;

  const relayOnce = () =>
    options.database.bypassTenantIsolation(
      "outbox relay",
      async (db) => {
        const rows = await db
          .select()
          .from(jobOutbox)
          .where(isNull(jobOutbox.sentAt))
          .orderBy(asc(jobOutbox.id))
          .limit(batchSize)
          .for("update", { skipLocked: true });
        for (const row of rows) {
          // A span in the trace of the request that wrote the row (tracing on).
          const attributes = {
            "job.name": row.jobName,
            "job.id": row.jobKey ?? row.id,
            "outbox.lag_ms": Math.max(0, Date.now() - row.createdAt.getTime()),
          };
          await withSpan(
            `outbox relay ${row.jobName}`,
            { attributes, parent: row.envelope.trace },
            () =>
              options.transport.publish({
                name: row.jobName,
                envelope: row.envelope,
                jobId: row.jobKey ?? row.id,
                delayMs: row.delayMs,
              }),
          );
        }
        outboxMetrics.relayed(rows.map((row) => row.createdAt));
        await options.afterPublish?.();
        if (rows.length > 0) {
          // Relayed rows are deleted with the commit: a payload rests in the outbox only
          // until it is in the queue.
          await db.delete(jobOutbox).where(
            inArray(
              jobOutbox.id,
              rows.map((row) => row.id),
            ),
          );
        }
        return rows.length;
      },
      { logLevel: "debug" },
    );

  const tick = async () => {
    let moved = 0;
    try {
      moved = await relayOnce();
      failures = 0;
      outboxMetrics.passSucceeded();
    } catch (error) {
      failures++;
      outboxMetrics.passFailed();
      if (failures === 1 || failures % 60 === 0) {
        options.logger.warn({ err: error, failures }, "outbox relay failed; retrying");
      }
    }
    if (stopped) return;
    // A full batch means more may be waiting: go on at once. Back off while failing.
    const wait = moved === batchSize ? 0 : intervalMs * Math.min(2 ** failures, 20);
    timer = setTimeout(() => {
      current = tick();
    }, wait);
  };

  return {
    relayOnce,
    start() {
      if (!stopped) return;
      stopped = false;
      current = tick();
    },
    async stop({ waitMs = DEFAULT_STOP_WAIT_MS } = {}) {
      stopped = true;
      clearTimeout(timer);
      if (!(await settlesWithin(current, waitMs))) {
        // A pass can hang (a connection waiting behind PgBouncer for a restarting server, a
        // queue that does not answer). Abandoning it loses nothing: nothing of it is committed,
        // its transaction rolls back when its connection closes (the pool's end, or the
        // process's exit), and its rows stay in the outbox for the next relay; any job it did
        // publish keeps its id, so that relay's publication of it is ignored.
        options.logger.warn(
          { waitedMs: waitMs },
          "outbox relay pass still running at stop; abandoning it (its rows stay in the outbox)",
        );
      }
    },
  };
}
