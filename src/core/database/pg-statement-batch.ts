import { createHash } from "node:crypto";
import type pg from "pg";
import Query from "pg/lib/query.js";
import Result from "pg/lib/result.js";
import pgUtils from "pg/lib/utils.js";
import { sqlStateOf } from "./errors.js";
import { driverTypeParsers } from "./type-parsers.js";

/**
 * Sends several statements with the extended protocol and a single Sync: one network round
 * trip, and one implicit transaction. That is what makes the tenant read path cheap: the
 * transaction-local `set_config` of the first statement is seen by the second and vanishes
 * at the Sync, and an error in either rolls back both (safe behind PgBouncer's transaction
 * mode). node-postgres runs any object with `submit()` (a Submittable) on a client, which is
 * the extension point pg-cursor uses too.
 */

export interface BatchStatement {
  /** Stable statement name (prepared once per connection), or "" for an unnamed statement. */
  readonly name: string;
  readonly text: string;
  readonly values: readonly unknown[];
}

/** Statement names derive from the SQL text, so two texts never share a name. */
export function statementName(label: string, text: string): string {
  const digest = createHash("sha256").update(text).digest("hex").slice(0, 16);
  return `${label.slice(0, 40)}_${digest}`;
}

type Connection = pg.Connection & {
  parsedStatements: Record<string, string | undefined>;
  stream: { cork?: () => void; uncork?: () => void };
  close(message: { type: "S" | "P"; name: string }): void;
};

/** Names whose Parse was sent in a batch that failed: they may or may not exist server-side. */
const uncertainStatements = new WeakMap<object, Set<string>>();

/**
 * What a named statement's rows look like, as the server described them once on a connection:
 * its fields and, built from them once, the parsers and the empty row node-postgres's Result
 * copies for each row. Later batches leave out the Describe, so the server sends no
 * RowDescription and neither side builds one per execution (as postgres.js and pgx do). It
 * holds while the statement stays prepared: PostgreSQL refuses to run a prepared statement whose
 * result type has changed (0A000) rather than send other columns, and a statement parsed again
 * is described again.
 */
interface RowShape {
  readonly fields: pg.FieldDef[];
  readonly parsers: unknown[];
  readonly emptyRow: unknown;
}
const rowShapes = new WeakMap<object, Map<string, RowShape>>();

/** node-postgres's Result with the fields its addFields sets. */
type ShapedResult = Result & {
  fields: pg.FieldDef[];
  _parsers: unknown[] | undefined;
  _prebuiltEmptyResultObject: unknown;
};

/** A result for the kit's type parsers, with the rows' shape already set when it is known. */
function newResult(shape?: RowShape): ShapedResult {
  const result = new Result(undefined, driverTypeParsers) as ShapedResult;
  if (shape) {
    result.fields = shape.fields;
    result._parsers = shape.parsers;
    result._prebuiltEmptyResultObject = shape.emptyRow;
  }
  return result;
}

/**
 * Behind a transaction pooler that does not track prepared statements (PgBouncer before 1.21),
 * a server connection may lack a statement the client prepared on another one (SQLSTATE 26000),
 * or already hold one of the same name that another client prepared on it (42P05). The batch
 * rolled back; it can be sent once more with every named statement closed and prepared anew.
 */
const MOVED_STATEMENT_CODES = new Set(["26000", "42P05"]);
export const isMovedStatement = (error: unknown): boolean =>
  MOVED_STATEMENT_CODES.has(sqlStateOf(error) ?? "");

/**
 * It extends node-postgres's Query only so that a client in pipeline mode accepts it: that mode
 * refuses other Submittables because they may keep a portal open across round trips (cursors).
 * A batch never does: it executes its unnamed portals to the end and ends with a Sync. Every
 * handler the client calls is overridden here.
 */
export class StatementBatch extends Query implements pg.Submittable {
  readonly done: Promise<Result[]>;
  /**
   * Set by node-postgres when its client has a `query_timeout`: calling it when the batch
   * settles clears that timer. Left running, it would fire after the batch was answered and, in
   * pipeline mode, destroy the connection under the batches behind it.
   */
  declare callback: ((error: Error | null) => void) | undefined;
  private resolve!: (results: Result[]) => void;
  private reject!: (error: Error) => void;
  private readonly results: Result[] = [];
  private current: Result | undefined;
  private parsedHere: string[] = [];
  private failed = false;
  /** The statement whose messages arrive now (its index), and its shapes where known. */
  private answering = 0;
  private shapes: (RowShape | undefined)[] = [];
  private connectionShapes: Map<string, RowShape> | undefined;

  constructor(private readonly statements: readonly BatchStatement[]) {
    // A string, not a config object: node-postgres copies a config object property by
    // property (getOwnPropertyDescriptors), on every read.
    super("");
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(rawConnection: pg.Connection): void {
    const connection = rawConnection as Connection;
    const uncertain = uncertainStatements.get(connection);
    let shapes = rowShapes.get(connection);
    if (!shapes) {
      shapes = new Map();
      rowShapes.set(connection, shapes);
    }
    this.connectionShapes = shapes;
    connection.stream.cork?.();
    try {
      for (const statement of this.statements) {
        const named = statement.name !== "";
        if (!named || connection.parsedStatements[statement.name] !== statement.text) {
          if (named && uncertain?.delete(statement.name)) {
            // Closing a statement that does not exist is not an error.
            connection.close({ type: "S", name: statement.name });
          }
          connection.parse({ name: statement.name, text: statement.text, types: [] }, true);
          if (named) {
            connection.parsedStatements[statement.name] = statement.text;
            this.parsedHere.push(statement.name);
            shapes.delete(statement.name);
          }
        }
        const shape = named ? shapes.get(statement.name) : undefined;
        this.shapes.push(shape);
        connection.bind(
          {
            statement: statement.name,
            portal: "",
            values: statement.values as unknown[],
            valueMapper: pgUtils.prepareValue,
          } as pg.BindConfig,
          true,
        );
        if (!shape) connection.describe({ type: "P", name: "" }, true);
        connection.execute({ portal: "" }, true);
      }
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
  }

  handleRowDescription(message: { fields: pg.FieldDef[] }): void {
    const result = newResult();
    result.addFields(message.fields);
    this.current = result;
    const name = this.statements[this.answering]?.name;
    if (name && this.connectionShapes) {
      this.connectionShapes.set(name, {
        fields: result.fields,
        parsers: result._parsers ?? [],
        emptyRow: result._prebuiltEmptyResultObject,
      });
    }
  }

  handleDataRow(message: { fields: unknown[] }): void {
    if (this.failed) return;
    // Without a Describe the rows come without a RowDescription: the shape known before.
    const result = this.current ?? this.startShaped();
    result.addRow(result.parseRow(message.fields));
  }

  handleCommandComplete(message: { text?: string }): void {
    const result = this.current ?? this.startShaped();
    result.addCommandComplete(message);
    this.results.push(result);
    this.current = undefined;
    this.answering += 1;
  }

  handleEmptyQuery(): void {
    this.results.push(newResult());
    this.answering += 1;
  }

  private startShaped(): Result {
    this.current = newResult(this.shapes[this.answering]);
    return this.current;
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: pg.Connection): void {
    (connection as unknown as { sendCopyFail(message: string): void }).sendCopyFail(
      "COPY is not supported in a statement batch",
    );
  }

  handleCopyData(): void {}

  /** The client drops the batch after an error, so settle here, not at ReadyForQuery. */
  handleError(error: Error, rawConnection: pg.Connection): void {
    this.failed = true;
    if (this.parsedHere.length > 0) {
      const connection = rawConnection as Connection;
      let uncertain = uncertainStatements.get(connection);
      if (!uncertain) {
        uncertain = new Set();
        uncertainStatements.set(connection, uncertain);
      }
      for (const name of this.parsedHere) {
        connection.parsedStatements[name] = undefined;
        uncertain.add(name);
      }
    }
    this.reject(error);
    this.callback?.(error);
  }

  handleReadyForQuery(): void {
    if (this.failed) return;
    this.resolve(this.results);
    this.callback?.(null);
  }
}

/** Forgets every statement prepared on a client, for example after PgBouncer moved it. */
export function forgetPreparedStatements(client: pg.ClientBase): void {
  const connection = (client as unknown as { connection: Connection }).connection;
  const uncertain = uncertainStatements.get(connection) ?? new Set<string>();
  for (const name of Object.keys(connection.parsedStatements)) {
    connection.parsedStatements[name] = undefined;
    uncertain.add(name);
  }
  uncertainStatements.set(connection, uncertain);
}
