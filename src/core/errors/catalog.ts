/**
 * Every problem the API can answer with. The code names the problem type; its URI is
 * `${PROBLEM_TYPE_BASE_URL}/${code}`, and docs/errors.md describes each one.
 */
export const problemCatalog = {
  "bad-request": { status: 400, title: "Bad request" },
  "malformed-json": { status: 400, title: "Malformed JSON body" },
  unauthorized: { status: 401, title: "Authentication required" },
  forbidden: { status: 403, title: "Forbidden" },
  "not-found": { status: 404, title: "Not found" },
  "method-not-allowed": { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "Conflict" },
  "payload-too-large": { status: 413, title: "Payload too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported media type" },
  "request-header-fields-too-large": { status: 431, title: "Request header fields too large" },
  "validation-failed": { status: 422, title: "Validation failed" },
  "rate-limited": { status: 429, title: "Too many requests" },
  /** Any other 4xx; the answer carries the real status and its standard reason phrase. */
  "client-error": { status: 400, title: "Client error" },
  "internal-error": { status: 500, title: "Internal server error" },
  "bad-gateway": { status: 502, title: "Bad gateway" },
  "service-unavailable": { status: 503, title: "Service unavailable" },
  "request-timeout": { status: 408, title: "Request timeout" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof problemCatalog;
