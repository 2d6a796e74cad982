/**
 * The kit's API for a front end: `api` is an openapi-fetch client typed by `schema.d.ts`, which
 * `npm run client` generates from the API's OpenAPI document; the rest is what every front end
 * writes around it otherwise: the session (the access token in memory, the refresh token in its
 * HttpOnly cookie), a silent refresh when an access token has expired, tenant switching, keyset
 * pagination and problem details (RFC 9457) as typed errors.
 *
 * The types below are taken from operations by their operationId, so a document that loses an
 * operationId, or changes a type the wrapper relies on, no longer compiles with it.
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

type JsonBody<Operation> = Operation extends {
  requestBody?: { content: { "application/json": infer Body } };
}
  ? Body
  : never;
type JsonAnswer<Operation, Status extends number> = Operation extends {
  responses: { [S in Status]: { content: { "application/json": infer Answer } } };
}
  ? Answer
  : never;

/** The token answer of register, login, refresh and switch-tenant: a signed-in session. */
export type Session = JsonAnswer<operations["refreshSession"], 200>;
/** The signed-in user, the token's tenant, its roles and permissions, and every membership. */
export type CurrentUser = JsonAnswer<operations["getCurrentUser"], 200>;
export type RegisterBody = JsonBody<operations["register"]>;
export type LoginBody = JsonBody<operations["login"]>;
/** An RFC 9457 problem: the body of every 4xx and 5xx answer. */
export type Problem = components["schemas"]["Problem"];

/** One page of a keyset list: pass `nextCursor` back as `cursor` until it is null. */
export interface Page<Item> {
  items: Item[];
  nextCursor: string | null;
}

/** What an openapi-fetch call resolves to: the data of a 2xx answer, or the error body. */
export interface Answer {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** The data of an answer's 2xx alternative (openapi-fetch types each alternative apart). */
export type DataOf<A> = A extends { data: infer Data } ? Data : never;

/** A problem answer, thrown by the helpers below (and by `unwrap`). */
export class ProblemError extends Error {
  readonly problem: Problem;
  /** The catalog code: the last segment of the problem's `type` (`validation-failed`). */
  readonly code: string;
  readonly status: number;

  constructor(problem: Problem) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
    this.name = "ProblemError";
    this.problem = problem;
    this.status = problem.status;
    this.code = problem.type.slice(problem.type.lastIndexOf("/") + 1);
  }

  /** Each field's message of a 422 (`{ name: "must not be empty" }`); empty otherwise. */
  get fieldErrors(): Record<string, string> {
    return Object.fromEntries((this.problem.errors ?? []).map((e) => [e.field, e.message]));
  }
}

/** Whether a value is a problem body. */
export function isProblem(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) return false;
  const { type, title, status, detail } = value as Record<string, unknown>;
  return (
    typeof type === "string" &&
    typeof title === "string" &&
    typeof status === "number" &&
    typeof detail === "string"
  );
}

/** A non-2xx answer as a ProblemError; a body that is no problem (a proxy's page) gets one. */
function problemErrorOf(error: unknown, response: Response): ProblemError {
  if (isProblem(error)) return new ProblemError(error);
  return new ProblemError({
    type: "about:blank",
    title: response.statusText || "Error",
    status: response.status,
    detail: typeof error === "string" && error ? error.slice(0, 500) : "No problem details.",
    instance: new URL(response.url || "http://unknown/").pathname,
    traceId: response.headers.get("x-request-id") ?? "",
  });
}

/** The data of a 2xx answer; a ProblemError for any other. */
export async function unwrap<A extends Answer>(answer: A | Promise<A>): Promise<DataOf<A>> {
  const { data, error, response } = await answer;
  if (response.ok) return data as DataOf<A>;
  throw problemErrorOf(error, response);
}

/**
 * Every item of a keyset list, fetching page after page as the loop asks for more:
 * `for await (const role of paginate((cursor) => api.GET("/api/v1/roles", { params: { query: { cursor } } })))`.
 */
export async function* paginate<Item>(
  fetchPage: (cursor: string | undefined) => Promise<{ data?: Page<Item>; response: Response }>,
): AsyncGenerator<Item, void, undefined> {
  let cursor: string | undefined;
  do {
    const page = (await unwrap(fetchPage(cursor))) as Page<Item>;
    yield* page.items;
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
}

/** A deprecated operation's announcement: RFC 9745 `Deprecation`, RFC 8594 `Sunset`. */
export interface DeprecationNotice {
  method: string;
  url: string;
  /** When it was deprecated. */
  deprecatedAt: Date;
  /** When it stops working, if the server set a date. */
  sunset?: Date;
  /** The `Link` header: where to read about it. */
  link?: string;
}

export interface KitClientOptions {
  /** The API's origin (PUBLIC_URL): `https://api.example.com`. */
  baseUrl: string;
  /** The fetch to send requests with (server-side rendering, tests); the global one by default. */
  fetch?: (request: Request) => Promise<Response>;
  /** Called with each new session, and with null when it ends (sign-out, a refused refresh). */
  onSession?: (session: Session | null) => void;
  /** Called for each answer of a deprecated operation, to log it before its sunset. */
  onDeprecated?: (notice: DeprecationNotice) => void;
  /**
   * Runs each refresh exclusively across the browser's tabs, so two tabs never present the same
   * refresh token: `(run) => navigator.locks.request("kit-refresh", run)`. Within one tab the
   * client already sends one refresh at a time.
   */
  refreshLock?: (run: () => Promise<Session>) => Promise<Session>;
  /** The value of X-Requested-With, the proof refresh and logout need without an Origin. */
  requestedWith?: string;
}

export interface KitClient {
  /** Every operation of the API, typed from the document, with the session's access token. */
  readonly api: Client<paths>;
  /** The current session: the user, the tenant and the access token; null when signed out. */
  readonly session: Session | null;
  register(body: RegisterBody): Promise<Session>;
  signIn(body: LoginBody): Promise<Session>;
  /** At start-up: a session from the refresh cookie, or null when there is none. */
  restore(): Promise<Session | null>;
  /** A new access token from the refresh cookie; concurrent calls share one request. */
  refresh(): Promise<Session>;
  /** A session in another tenant of the user (the `memberships` of `me()`). */
  switchTenant(tenantId: string): Promise<Session>;
  /** The user, the tenant, its roles and permissions, and every membership. */
  me(): Promise<CurrentUser>;
  /** Ends the session on the server and forgets it here. */
  signOut(): Promise<void>;
}

/** Operations a 401 of which is the answer itself, not an expired access token. */
const SESSION_OPERATIONS = new Set([
  "/api/v1/auth/register",
  "/api/v1/auth/login",
  "/api/v1/auth/refresh",
  "/api/v1/auth/logout",
]);

export function createKitClient(options: KitClientOptions): KitClient {
  const requestedWith = options.requestedWith ?? "fetch";
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const api = createClient<paths>({
    baseUrl: options.baseUrl,
    fetch: send,
    // The refresh cookie is HttpOnly and SameSite=Strict: the browser sends it to /api/v1/auth
    // by itself, and to another origin than the page's only with credentials.
    credentials: "include",
  });

  let session: Session | null = null;
  const setSession = (next: Session | null) => {
    session = next;
    options.onSession?.(next);
  };

  let refreshing: Promise<Session> | undefined;
  const refreshOnce = async (): Promise<Session> => {
    const answer = await api.POST("/api/v1/auth/refresh", {
      params: { header: { "X-Requested-With": requestedWith } },
    });
    if (!answer.response.ok) setSession(null);
    const next = await unwrap(answer);
    setSession(next);
    return next;
  };
  // One refresh at a time: a second refresh with the same cookie would present a rotated token.
  const refresh = (): Promise<Session> => {
    refreshing ??= (options.refreshLock ? options.refreshLock(refreshOnce) : refreshOnce()).finally(
      () => {
        refreshing = undefined;
      },
    );
    return refreshing;
  };

  // The request as it was before it was sent, and the token it carried, to send it again.
  const sent = new Map<string, { retry: Request; token: string }>();
  const authentication: Middleware = {
    onRequest({ request, schemaPath, id }) {
      const token = session?.accessToken;
      if (!token || request.headers.has("Authorization")) return undefined;
      request.headers.set("Authorization", `Bearer ${token}`);
      if (!SESSION_OPERATIONS.has(schemaPath)) sent.set(id, { retry: request.clone(), token });
      return request;
    },
    async onResponse({ response, id }) {
      const attempt = sent.get(id);
      sent.delete(id);
      if (response.status !== 401 || !attempt) return undefined;
      // Expired (or revoked) access token: refresh once, whoever asks, then send it again. A
      // request sent before another one's refresh finished just takes the new token.
      const current =
        session && session.accessToken !== attempt.token
          ? session
          : await refresh().catch(() => null);
      if (!current) return undefined;
      await response.body?.cancel();
      attempt.retry.headers.set("Authorization", `Bearer ${current.accessToken}`);
      return send(attempt.retry);
    },
    onError({ id }) {
      sent.delete(id);
      return undefined;
    },
  };
  api.use(authentication);

  if (options.onDeprecated) {
    const report = options.onDeprecated;
    api.use({
      onResponse({ request, response }) {
        const deprecation = response.headers.get("Deprecation");
        if (!deprecation) return undefined;
        const sunset = response.headers.get("Sunset");
        const link = response.headers.get("Link");
        report({
          method: request.method,
          url: request.url,
          deprecatedAt: new Date(Number(deprecation.replace(/^@/, "")) * 1000),
          ...(sunset ? { sunset: new Date(sunset) } : {}),
          ...(link ? { link } : {}),
        });
        return undefined;
      },
    });
  }

  const signedIn = async (answer: Promise<{ data?: Session; response: Response }>) => {
    const next = (await unwrap(answer)) as Session;
    setSession(next);
    return next;
  };

  return {
    api,
    get session() {
      return session;
    },
    register: (body) => signedIn(api.POST("/api/v1/auth/register", { body })),
    signIn: (body) => signedIn(api.POST("/api/v1/auth/login", { body })),
    async restore() {
      try {
        return await refresh();
      } catch (error) {
        if (error instanceof ProblemError && error.status === 401) return null;
        throw error;
      }
    },
    refresh,
    switchTenant: (tenantId) =>
      signedIn(api.POST("/api/v1/auth/switch-tenant", { body: { tenantId } })),
    me: () => unwrap(api.GET("/api/v1/auth/me")),
    async signOut() {
      try {
        await unwrap(
          api.POST("/api/v1/auth/logout", {
            params: { header: { "X-Requested-With": requestedWith } },
          }),
        );
      } finally {
        setSession(null);
      }
    },
  };
}
