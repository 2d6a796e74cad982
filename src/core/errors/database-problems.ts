import { type DatabaseFailure, databaseFailureOf } from "../database/errors.js";
import type { ProblemCode } from "./catalog.js";

export interface DatabaseProblem {
  readonly code: ProblemCode;
  readonly detail: string;
  readonly headers?: Record<string, string>;
  /** What the log line says about the failure: the SQLSTATE and names, never values. */
  readonly failure: DatabaseFailure;
  /** Conflicts are part of normal use; the rest means a check is missing or the load is high. */
  readonly logLevel: "info" | "warn";
}

/** Data that conflicts with rows already there: a client can change its request. */
const CONFLICTS: Record<string, string> = {
  "23505": "A resource with these values already exists.",
  "23503": "The request refers to a resource that does not exist or is still in use.",
  "23001": "The request refers to a resource that does not exist or is still in use.",
  "23P01": "The request conflicts with an existing resource.",
};

/** The statement lost to a concurrent one or waited too long: the same request may succeed. */
const RETRYABLE: Record<string, string> = {
  "40001": "The request collided with a concurrent change; retry it.",
  "40P01": "The request collided with a concurrent change; retry it.",
  "55P03": "The request collided with a concurrent change; retry it.",
  "57014": "The database did not answer in time; retry the request.",
};

/**
 * A value PostgreSQL refuses to store or compare: class 22 (data exceptions: NUL bytes,
 * malformed or out-of-range values, strings too long), a NOT NULL or a CHECK constraint. The
 * validator should have refused it first; answering 400 keeps a gap there from being a 500.
 */
const isDataError = (sqlState: string): boolean =>
  sqlState.startsWith("22") || sqlState === "23502" || sqlState === "23514";

/**
 * The problem a PostgreSQL error that reached the error handler stands for, whichever driver
 * raised it and whether or not Drizzle wrapped it; undefined for errors that are the server's
 * fault (and answer 500).
 */
export function databaseProblemOf(error: unknown): DatabaseProblem | undefined {
  const failure = databaseFailureOf(error);
  if (!failure) return undefined;
  const conflict = CONFLICTS[failure.sqlState];
  if (conflict) return { code: "conflict", detail: conflict, failure, logLevel: "info" };
  const retryable = RETRYABLE[failure.sqlState];
  if (retryable) {
    return {
      code: "service-unavailable",
      detail: retryable,
      headers: { "retry-after": "1" },
      failure,
      logLevel: "warn",
    };
  }
  if (isDataError(failure.sqlState)) {
    return {
      code: "bad-request",
      detail:
        "A value in the request cannot be stored: it is malformed, out of range or breaks a rule of the data.",
      failure,
      logLevel: "warn",
    };
  }
  return undefined;
}
