import { type ProblemCode, problemCatalog } from "./catalog.js";

export interface FieldError {
  field: string;
  message: string;
}

/**
 * The one error type code throws on purpose. The error handler turns it into a problem response;
 * anything else that escapes a handler is a bug and answers 500.
 */
export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly options: {
      errors?: FieldError[];
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(detail, { cause: options.cause });
    this.name = "AppError";
    this.status = problemCatalog[code].status;
  }
}

export const notFound = (detail = "The requested resource does not exist.") =>
  new AppError("not-found", detail);
export const conflict = (detail: string) => new AppError("conflict", detail);
export const forbidden = (detail = "You do not have permission to do this.") =>
  new AppError("forbidden", detail);
export const unauthorized = (detail = "A valid access token is required.") =>
  new AppError("unauthorized", detail, { headers: { "www-authenticate": 'Bearer realm="api"' } });
