/**
 * Steady load for the fault suite: a fixed number of concurrent loops of fetches against Caddy,
 * each request with a deadline (a request that outlives it counts as a hang), until the
 * scenario says stop or the request budget is spent. Every answer is kept with its timing, so a
 * scenario can tell what happened during the fault and when the first success came after it.
 */

export interface PlannedRequest {
  readonly method: "GET" | "POST" | "PATCH";
  readonly path: string;
  readonly token?: string;
  readonly body?: unknown;
  /** A write whose 201 must leave a row in PostgreSQL. */
  readonly write?: boolean;
}

export interface Outcome {
  readonly request: PlannedRequest;
  readonly startedAt: number;
  readonly endedAt: number;
  /** The HTTP status; undefined when no answer came (connection error or hang). */
  readonly status: number | undefined;
  readonly retryAfter: string | null;
  /** The id in a 201's body. */
  readonly createdId: string | undefined;
  readonly error: "connection" | "hang" | undefined;
  readonly problemType: string | undefined;
}

export interface LoadOptions {
  readonly baseUrl: string;
  readonly concurrency: number;
  /** The n-th request of the run. */
  readonly plan: (n: number) => PlannedRequest;
  readonly maxRequests: number;
  readonly requestTimeoutMs: number;
}

export interface Load {
  /** Lets the loops finish their current request, then resolves with every outcome. */
  stop(): Promise<Outcome[]>;
  /** Resolves once the request budget is spent (or stop() was called). */
  readonly finished: Promise<Outcome[]>;
  readonly outcomes: readonly Outcome[];
}

export function startLoad(options: LoadOptions): Load {
  const outcomes: Outcome[] = [];
  let sent = 0;
  let stopping = false;

  const loop = async () => {
    while (!stopping && sent < options.maxRequests) {
      const request = options.plan(sent);
      sent += 1;
      outcomes.push(await send(options.baseUrl, request, options.requestTimeoutMs));
    }
  };
  const finished = Promise.all(Array.from({ length: options.concurrency }, loop)).then(
    () => outcomes,
  );
  return {
    outcomes,
    finished,
    stop: () => {
      stopping = true;
      return finished;
    },
  };
}

export async function send(
  baseUrl: string,
  request: PlannedRequest,
  timeoutMs: number,
): Promise<Outcome> {
  const startedAt = Date.now();
  const base = {
    request,
    startedAt,
    retryAfter: null,
    createdId: undefined,
    problemType: undefined,
  };
  try {
    const response = await fetch(`${baseUrl}${request.path}`, {
      method: request.method,
      headers: {
        ...(request.body === undefined ? {} : { "content-type": "application/json" }),
        ...(request.token ? { authorization: `Bearer ${request.token}` } : {}),
      },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let parsed: { id?: unknown; type?: unknown } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {}
    return {
      ...base,
      endedAt: Date.now(),
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
      createdId: response.status === 201 && typeof parsed.id === "string" ? parsed.id : undefined,
      problemType: typeof parsed.type === "string" ? parsed.type : undefined,
      error: undefined,
    };
  } catch (error) {
    const name = (error as Error).name;
    return {
      ...base,
      endedAt: Date.now(),
      status: undefined,
      error: name === "TimeoutError" || name === "AbortError" ? "hang" : "connection",
    };
  }
}

export interface LoadSummary {
  readonly requests: number;
  readonly statuses: Record<string, number>;
  readonly serverErrors: number;
  /** 5xx other than 503, or a 503 without Retry-After. */
  readonly badServerErrors: number;
  /** Those by status, Retry-After and problem type, e.g. "503 no-retry-after (caddy)". */
  readonly badServerErrorKinds: Record<string, number>;
  readonly connectionErrors: number;
  readonly hangs: number;
  /** Milliseconds from the end of the fault to the first success of a request started after it. */
  readonly recoveryMs: number | null;
  readonly writesAcknowledged: number;
}

export function summarize(
  outcomes: readonly Outcome[],
  faultEndedAt: number | undefined,
): LoadSummary {
  const statuses: Record<string, number> = {};
  for (const outcome of outcomes) {
    const key = outcome.status === undefined ? (outcome.error as string) : String(outcome.status);
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  const serverErrors = outcomes.filter((o) => (o.status ?? 0) >= 500);
  const bad = serverErrors.filter((o) => o.status !== 503 || o.retryAfter === null);
  const badServerErrorKinds: Record<string, number> = {};
  for (const o of bad) {
    const key = `${o.status} ${o.retryAfter === null ? "no-retry-after" : `retry-after ${o.retryAfter}`} (${o.problemType ?? "no problem body"})`;
    badServerErrorKinds[key] = (badServerErrorKinds[key] ?? 0) + 1;
  }
  const firstSuccess = outcomes
    .filter(
      (o) =>
        faultEndedAt !== undefined &&
        o.startedAt >= faultEndedAt &&
        o.status !== undefined &&
        o.status < 400,
    )
    .reduce<number | undefined>((first, o) => Math.min(first ?? o.endedAt, o.endedAt), undefined);
  return {
    requests: outcomes.length,
    statuses,
    serverErrors: serverErrors.length,
    badServerErrors: bad.length,
    badServerErrorKinds,
    connectionErrors: outcomes.filter((o) => o.error === "connection").length,
    hangs: outcomes.filter((o) => o.error === "hang").length,
    recoveryMs:
      faultEndedAt === undefined || firstSuccess === undefined ? null : firstSuccess - faultEndedAt,
    writesAcknowledged: outcomes.filter((o) => o.createdId !== undefined).length,
  };
}
