import type { Socket } from "node:net";
import type { FastifyBaseLogger } from "fastify";
import pg from "pg";
import type Result from "pg/lib/result.js";
import { AppError } from "../errors/index.js";
import { isServiceUnavailable } from "../errors/unavailable.js";
import {
  type BatchStatement,
  forgetPreparedStatements,
  isMovedStatement,
  StatementBatch,
} from "./pg-statement-batch.js";

/**
 * A few connections on which the tenant reads of concurrent requests are pipelined: each
 * request's batch (the tenant entry and its query, ending in its own Sync) is written behind
 * the batches already in flight on a connection instead of waiting for a connection of its own.
 * Every batch stays one implicit transaction of its own; PostgreSQL answers them in order.
 *
 * Why: a pooled connection carries one batch per round trip, so every request pays one write to
 * PostgreSQL and one wake-up of its backend. Here the batches submitted in the same turn of the
 * event loop leave in one write (the socket is corked until the turn ends), and the backend reads
 * them in one go. docs/decisions/0001-tenant-read-path.md has the measurements.
 *
 * Only reads come here (see `isPipelinable`): a write may wait for a row lock, and everything
 * pipelined behind it on the same connection would wait too. Reads in PostgreSQL never wait for
 * row locks. A lane whose oldest batch has been in flight for STALL_MS (a slow plan, a lock
 * taken by DDL) gets new batches only when every other lane is as stalled.
 */

/** Batches one connection carries at once; a request beyond that waits for room. */
export const PIPELINE_DEPTH = 32;
/** A lane whose oldest batch is older than this is passed over while another lane is not. */
const STALL_MS = 50;

interface Lane {
  client: pg.Client | undefined;
  connecting: Promise<pg.Client> | undefined;
  /** Batches picked for this lane and not yet settled (connecting ones included). */
  inFlight: number;
  /** performance.now() of each submitted batch, oldest first: they settle in this order. */
  readonly submittedAt: number[];
  /** Whether the socket is corked until the end of this turn of the event loop. */
  corked: boolean;
}

export interface ReadPipelineOptions {
  url: string;
  connections: number;
  applicationName: string;
  /** How long a request waits for a connection, or for room on one, before it answers 503. */
  waitMs: number;
  /**
   * How long a batch may wait for its answer before its connection is given up: the statement
   * timeout plus a margin. PostgreSQL cancels a slow statement itself; this covers an answer
   * that never comes (a network cut that leaves the socket open, a pooler that lost track),
   * which would otherwise hold every batch behind it, and the process's shutdown, for ever.
   */
  answerWithinMs: number;
}

type ConnectionInternals = { connection: { stream: Socket } };

export class ReadPipeline {
  private readonly lanes: Lane[];
  private readonly waiting: (() => void)[] = [];
  private closing = false;

  constructor(
    private readonly options: ReadPipelineOptions,
    private readonly logger: FastifyBaseLogger,
  ) {
    this.lanes = Array.from({ length: options.connections }, () => ({
      client: undefined,
      connecting: undefined,
      inFlight: 0,
      submittedAt: [],
      corked: false,
    }));
  }

  /**
   * Runs one single-Sync batch on the least busy lane and returns its results. Written with
   * `then` rather than `async`/`await`: this runs for every tenant read, and each async frame
   * and each await adds promises (and, while AsyncLocalStorage is on, hook calls) and turns.
   */
  run(statements: readonly BatchStatement[]): Promise<Result[]> {
    const lane = this.pick();
    if (lane) return this.runOn(lane, statements);
    return this.waitForRoom().then((room) => this.runOn(room, statements));
  }

  private runOn(lane: Lane, statements: readonly BatchStatement[]): Promise<Result[]> {
    lane.inFlight += 1;
    const client = lane.client;
    if (client) return this.runConnected(lane, client, statements, false);
    return this.connect(lane).then(
      (connected) => this.runConnected(lane, connected, statements, false),
      (error: unknown) => {
        this.leave(lane);
        throw error;
      },
    );
  }

  /** Submits the batch; once more, every statement prepared anew, if one of them was lost. */
  private runConnected(
    lane: Lane,
    client: pg.Client,
    statements: readonly BatchStatement[],
    again: boolean,
  ): Promise<Result[]> {
    return this.submit(lane, client, statements).then(
      (results) => {
        lane.submittedAt.shift();
        this.leave(lane);
        return results;
      },
      (error: unknown) => {
        lane.submittedAt.shift();
        // The server ended the session (a restart, a terminated backend) or the socket broke:
        // the next batch must not be written to this client, whose error event may come later.
        if (isServiceUnavailable(error)) this.discard(lane, client);
        if (again || !isMovedStatement(error)) {
          this.leave(lane);
          throw error;
        }
        // As on a pooled connection (pg-driver.ts).
        forgetPreparedStatements(client);
        return this.runConnected(lane, client, statements, true);
      },
    );
  }

  /** A batch of `lane` settled: its room goes to the next request waiting for one. */
  private leave(lane: Lane): void {
    lane.inFlight -= 1;
    this.waiting.shift()?.();
  }

  async close(): Promise<void> {
    this.closing = true;
    const clients = this.lanes.flatMap((lane) => (lane.client ? [lane.client] : []));
    for (const lane of this.lanes) lane.client = undefined;
    // A pipelined client ends once the batches already written have been answered.
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  }

  /**
   * Writes the batch behind those in flight on the lane; the caller takes its time off
   * `submittedAt` when it settles (batches settle in the order they were written).
   */
  private submit(
    lane: Lane,
    client: pg.Client,
    statements: readonly BatchStatement[],
  ): Promise<Result[]> {
    lane.submittedAt.push(performance.now());
    try {
      this.corkForThisTurn(lane, client);
      return client.query(new StatementBatch(statements)).done;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private discard(lane: Lane, client: pg.Client): void {
    if (lane.client !== client) return;
    lane.client = undefined;
    (client as unknown as ConnectionInternals).connection.stream.destroy();
  }

  /** The lane with room and the fewest batches in flight, stalled lanes last. */
  private pick(): Lane | undefined {
    const now = performance.now();
    let best: Lane | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const lane of this.lanes) {
      if (lane.inFlight >= PIPELINE_DEPTH) continue;
      const oldest = lane.submittedAt[0];
      const stalled = oldest !== undefined && now - oldest > STALL_MS;
      const score = lane.inFlight + (stalled ? PIPELINE_DEPTH : 0);
      if (score < bestScore) {
        best = lane;
        bestScore = score;
      }
    }
    return best;
  }

  private waitForRoom(): Promise<Lane> {
    return new Promise((resolve, reject) => {
      const turn = () => {
        const lane = this.pick();
        if (!lane) {
          this.waiting.unshift(turn);
          return;
        }
        clearTimeout(timer);
        resolve(lane);
      };
      const timer = setTimeout(() => {
        const index = this.waiting.indexOf(turn);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(
          new AppError("service-unavailable", "The database is busy; retry shortly.", {
            headers: { "retry-after": "1" },
          }),
        );
      }, this.options.waitMs);
      this.waiting.push(turn);
    });
  }

  private connect(lane: Lane): Promise<pg.Client> {
    if (this.closing) return Promise.reject(new Error("Client was closed and is not queryable"));
    lane.connecting ??= (async () => {
      const client = new pg.Client({
        connectionString: this.options.url,
        application_name: this.options.applicationName,
        connectionTimeoutMillis: this.options.waitMs,
        // node-postgres fails the batch and destroys the socket, which fails the batches behind
        // it (503); the lane connects again for the next one.
        query_timeout: this.options.answerWithinMs,
        pipeline: true,
      });
      // A lost connection fails the batches in flight on it (503); the next batch reconnects.
      const drop = () => {
        if (lane.client === client) lane.client = undefined;
      };
      client.on("error", (error) => {
        drop();
        this.logger.warn({ err: error }, "pipelined database connection failed");
      });
      client.on("end", drop);
      try {
        await client.connect();
      } catch (error) {
        client.removeAllListeners("error");
        client.on("error", () => undefined);
        throw error;
      }
      if (this.closing) {
        await client.end();
        throw new Error("Client was closed and is not queryable");
      }
      lane.client = client;
      return client;
    })().finally(() => {
      lane.connecting = undefined;
    });
    return lane.connecting;
  }

  /**
   * Holds this lane's writes until the event loop has run every callback of this turn, so the
   * batches of the requests handled in the same turn leave in one write.
   */
  private corkForThisTurn(lane: Lane, client: pg.Client): void {
    if (lane.corked) return;
    const socket = (client as unknown as ConnectionInternals).connection.stream;
    lane.corked = true;
    socket.cork();
    setImmediate(() => {
      lane.corked = false;
      socket.uncork();
    });
  }
}
