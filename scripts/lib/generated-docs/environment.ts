import { createHash } from "node:crypto";
import type { z } from "zod";
import { ConfigError, loadConfig } from "../../../src/config.js";
import { markdownTable } from "./markdown.js";

/**
 * What the README's configuration table says of each variable beyond what the schema tells:
 * a one-line meaning, the default when the schema has none (it is then computed in
 * `loadConfig`), and a note on production and staging that the probe below cannot derive.
 * A variable of the schema without an entry here, or an entry the schema no longer reads,
 * fails the generation.
 */
interface VariableDoc {
  readonly meaning: string;
  readonly default?: string;
  readonly strict?: string;
}

export const ENVIRONMENT_DOCS: Readonly<Record<string, VariableDoc>> = {
  ENVIRONMENT: {
    meaning: "`development`, `test`, `staging` or `production`; the last two are strict",
    strict: "the image sets `production`",
  },
  HOST: { meaning: "address to listen on", strict: "the image sets `0.0.0.0`" },
  PORT: { meaning: "port to listen on (0 picks a free one)", strict: "the image sets `8000`" },
  LOG_LEVEL: {
    default: "`info` (`silent` in test)",
    meaning: "`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`",
  },
  LOG_PRETTY: {
    default: "`true` in development only",
    meaning: "human-readable logs instead of JSON lines",
  },
  REQUEST_LOG: {
    default: "`all`",
    meaning: "which requests get a completion line: `all` or `errors-and-slow`",
  },
  REQUEST_LOG_SLOW_MS: {
    meaning: "with `errors-and-slow`, requests this slow (ms) are logged whatever their status",
  },
  MEMORY_RETURN_WHEN_QUIET: {
    default: "`true`",
    meaning:
      "with `--expose-gc`, V8's last-resort collection after two quiet minutes; `false` keeps what load grew",
  },
  DATABASE_URL: {
    default: "none: embedded PGlite",
    strict: "a login that can assume `app_tenant` only",
    meaning: "PostgreSQL URL of the tenant pool",
  },
  DATABASE_POOL_SIZE: { meaning: "connections of the tenant pool per process" },
  DATABASE_SYSTEM_URL: {
    default: "`DATABASE_URL`",
    strict: "a login that can assume `app_system`",
    meaning: "PostgreSQL URL of the system pool (sign-in, registration, the outbox relay)",
  },
  DATABASE_SYSTEM_POOL_SIZE: { meaning: "connections of the system pool per process" },
  DATABASE_PREPARED_STATEMENTS: {
    default: "`true`",
    strict: "`false` behind PgBouncer older than 1.21",
    meaning: "named prepared statements on the tenant read path",
  },
  DATABASE_PIPELINE_CONNECTIONS: {
    meaning: "connections beside the tenant pool on which tenant reads are pipelined; 0: none",
  },
  DATABASE_STATEMENT_TIMEOUT_MS: {
    meaning: "the longest a statement may run, or a transaction sit idle, before it is cancelled",
  },
  DATABASE_TENANT_CONNECTIONS: {
    default: "half of `DATABASE_POOL_SIZE`",
    meaning: "tenant-pool connections one tenant may hold at once in a process",
  },
  PGLITE_DATA_DIR: {
    strict: "not used",
    meaning: "folder of the embedded database (in memory in test)",
  },
  JWT_ISSUER: { default: "`PUBLIC_URL`", meaning: "`iss` of the access tokens" },
  JWT_AUDIENCE: { default: "`PUBLIC_URL` + `/api`", meaning: "`aud` of the access tokens" },
  REDIS_URL: {
    default: "none: cache, rate limits and jobs in the process",
    meaning: "Redis URL for the cache, the rate-limit counters and the job queue",
  },
  REDIS_KEY_PREFIX: { meaning: "prefix of every Redis key the kit writes" },
  SMTP_URL: {
    default: "none: emails written to the log",
    meaning: "SMTP server for outgoing mail",
  },
  MAIL_FROM: { default: "`Agency Kit <no-reply@localhost>`", meaning: "sender of every email" },
  WORKER_CONCURRENCY: { meaning: "jobs one worker process runs at once" },
  RATE_LIMIT_ENABLED: {
    default: "`true`",
    meaning: "the general limits, per client IP and per tenant",
  },
  RATE_LIMIT_FAIL_OPEN: {
    default: "`true`",
    meaning: "with Redis unreachable, the general limits let requests through",
  },
  RATE_LIMIT_IP: { meaning: "requests a minute per client IP" },
  RATE_LIMIT_FREE: { meaning: "requests a minute per tenant on the `free` plan" },
  RATE_LIMIT_PRO: { meaning: "requests a minute per tenant on the `pro` plan" },
  RATE_LIMIT_ENTERPRISE: { meaning: "requests a minute per tenant on the `enterprise` plan" },
  INVITATION_LIMIT_PER_INVITER: { meaning: "invitations one member may send in an hour" },
  INVITATION_LIMIT_PER_TENANT: { meaning: "invitations one tenant may send in a day" },
  SECRET_KEY: {
    default: "derived from machine and folder",
    strict: "32+ random characters, 128 estimated bits",
    meaning: "signs access tokens, keys refresh-token successors, seals mail job data",
  },
  CORS_ORIGINS: {
    default: "`http://localhost:3000`",
    strict: "`*` refused",
    meaning: "comma-separated browser origins allowed to call the API with credentials",
  },
  PUBLIC_URL: {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the docs write defaults that way.
    default: "`http://localhost:${PORT}`",
    meaning: "the API's public base URL as clients reach it",
  },
  FRONTEND_URL: {
    default: "`http://localhost:3000`",
    meaning: "the front end's base URL, for mailed links and OAuth returns",
  },
  PROBLEM_TYPE_BASE_URL: {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the docs write defaults that way.
    default: "`${PUBLIC_URL}/problems`",
    meaning: "base of the `type` URL of problem responses",
  },
  METRICS_TOKEN: {
    default: "none: `/metrics` open",
    strict: "the same rules as `SECRET_KEY`",
    meaning: "bearer token `/metrics` requires",
  },
  TRUST_PROXY: {
    default: "`false`",
    strict: "`true` only behind a proxy that overwrites `X-Forwarded-*`",
    meaning: "take client IP, protocol and host from `X-Forwarded-*`",
  },
  BODY_LIMIT_BYTES: { meaning: "largest request body (413 above it)" },
  REQUEST_TIMEOUT_MS: { meaning: "time to receive a whole request (408 after it)" },
  HEADERS_TIMEOUT_MS: {
    meaning: "time to receive the request headers; at most `REQUEST_TIMEOUT_MS`",
  },
  KEEP_ALIVE_TIMEOUT_MS: { meaning: "how long an idle keep-alive connection stays open" },
  SHUTDOWN_TIMEOUT_MS: { meaning: "time to finish in-flight work on SIGTERM before exiting" },
  SHUTDOWN_DRAIN_MS: {
    default: "`5000` in production and staging, `0` otherwise",
    meaning: "on SIGTERM, how long `/health/ready` answers 503 before the listener closes",
  },
  REFRESH_GRACE_SECONDS: {
    meaning: "how long a rotated refresh token still gets the same successor (0 to 60)",
  },
  SESSION_MAX_AGE_DAYS: { meaning: "a session ends this many days after sign-in" },
  TENANT_CREATION_LIMIT_PER_USER: { meaning: "calls a day per user to `POST /api/v1/tenants`" },
  GOOGLE_CLIENT_ID: { default: "none: Google sign-in off", meaning: "Google OAuth client id" },
  GOOGLE_CLIENT_SECRET: { default: "none", meaning: "its secret" },
  GOOGLE_ISSUER: {
    default: "`https://accounts.google.com`",
    meaning: "Google's OpenID Connect issuer",
  },
  MICROSOFT_CLIENT_ID: {
    default: "none: Microsoft sign-in off",
    meaning: "Microsoft Entra ID application (client) id",
  },
  MICROSOFT_CLIENT_SECRET: { default: "none", meaning: "its client secret" },
  MICROSOFT_TENANT: {
    meaning: "who may sign in: `common`, `organizations`, `consumers`, a tenant id or domain",
  },
  MICROSOFT_ISSUER: {
    default: "the v2.0 issuer of `MICROSOFT_TENANT`",
    meaning: "Microsoft's OpenID Connect issuer (sovereign clouds, tests)",
  },
  GITHUB_CLIENT_ID: { default: "none: GitHub sign-in off", meaning: "GitHub OAuth app client id" },
  GITHUB_CLIENT_SECRET: { default: "none", meaning: "its client secret" },
  GITHUB_URL: {
    default: "`https://github.com`",
    meaning: "GitHub's web base URL (GitHub Enterprise Server)",
  },
  GITHUB_API_URL: {
    default: "`https://api.github.com`",
    meaning: "GitHub's REST API base URL (GitHub Enterprise Server)",
  },
  OAUTH_TIMEOUT_MS: { meaning: "the longest a request to an OAuth provider may take" },
  OTEL_SDK_DISABLED: {
    default: "`false`",
    meaning: "`true` turns tracing off whatever else is set",
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    default: "none: tracing off",
    meaning: "base URL of an OTLP/HTTP receiver; spans go to its `/v1/traces`",
  },
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: {
    default: "none",
    meaning: "the full traces URL; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`",
  },
  OTEL_SERVICE_NAME: {
    meaning: "`service.name` of the API's spans (the worker's: `<name>-worker`)",
  },
  OTEL_TRACES_SAMPLER: { meaning: "which traces are kept: the OpenTelemetry SDK's sampler names" },
  OTEL_TRACES_SAMPLER_ARG: { meaning: "the ratio of the `traceidratio` samplers, 0 to 1" },
  TRUST_TRACEPARENT: {
    default: "`false`",
    strict: "`true` only behind a gateway that sets or clears `traceparent`",
    meaning: "continue the trace of an incoming request's `traceparent`",
  },
  WORKER_METRICS_PORT: {
    default: "none: the worker serves no `/metrics`",
    meaning: "port of a worker process's `/metrics`",
  },
};

type EnvironmentSchema = z.ZodObject<Record<string, z.ZodType>>;

interface ZodDefinition {
  readonly type: string;
  readonly out?: { readonly _zod: { readonly def: ZodDefinition } };
  readonly innerType?: { readonly _zod: { readonly def: ZodDefinition } };
  readonly defaultValue?: unknown;
}

/** The default the schema itself gives a variable, through its preprocessing pipe. */
export function schemaDefault(schema: z.ZodType): unknown {
  let definition = (schema as unknown as { _zod: { def: ZodDefinition } })._zod.def;
  for (;;) {
    if (definition.type === "default") return definition.defaultValue;
    const next = definition.type === "pipe" ? definition.out : definition.innerType;
    if (!next) return undefined;
    definition = next._zod.def;
  }
}

/** Stable, random-looking values that pass the production checks of secrets. */
const probeSecret = (name: string) =>
  createHash("sha512").update(`configuration docs probe: ${name}`).digest("base64");

/** A production environment `loadConfig` accepts, with every OAuth provider configured. */
function acceptedProductionEnvironment(): Record<string, string> {
  return {
    ENVIRONMENT: "production",
    SECRET_KEY: probeSecret("SECRET_KEY"),
    METRICS_TOKEN: probeSecret("METRICS_TOKEN"),
    DATABASE_URL: "postgres://tenant_login:password@db.example.com:5432/app",
    DATABASE_SYSTEM_URL: "postgres://system_login:password@db.example.com:5432/app",
    REDIS_URL: "redis://redis.example.com:6379",
    CORS_ORIGINS: "https://app.example.com",
    PUBLIC_URL: "https://api.example.com",
    FRONTEND_URL: "https://app.example.com",
    SMTP_URL: "smtp://smtp.example.com:587",
    MAIL_FROM: "Example <no-reply@example.com>",
    GOOGLE_CLIENT_ID: "google-client",
    GOOGLE_CLIENT_SECRET: "google-secret",
    MICROSOFT_CLIENT_ID: "microsoft-client",
    MICROSOFT_CLIENT_SECRET: "microsoft-secret",
    GITHUB_CLIENT_ID: "github-client",
    GITHUB_CLIENT_SECRET: "github-secret",
  };
}

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

/**
 * What production refuses of one variable, found by asking `loadConfig`: an accepted
 * production environment without the variable, and with it set to a plain-http URL.
 */
function productionRules(name: string): string[] {
  const accepted = acceptedProductionEnvironment();
  const refused = problemsOf(accepted);
  if (refused.length > 0) {
    throw new Error(`The probe's production environment is refused:\n${refused.join("\n")}`);
  }
  const rules: string[] = [];
  const { [name]: _, ...without } = accepted;
  const unset = problemsOf(without);
  if (unset.some((problem) => problem.startsWith(`${name} is required`))) {
    rules.push("**required**");
  }
  if (unset.some((problem) => problem.startsWith(`${name} and `) && problem.includes("together"))) {
    rules.push("both or neither");
  }
  const plainHttp = problemsOf({ ...accepted, [name]: "http://example.com" });
  if (plainHttp.includes(`${name} must be an https URL in production`)) rules.push("`https` only");
  return rules;
}

const code = (value: unknown) => `\`${String(value)}\``;

/**
 * The README's table of every variable the schema reads, in the schema's order: the default
 * from the schema (or, where `loadConfig` computes it, from the docs entry), production's
 * rules as `loadConfig` applies them, and the meaning.
 */
export function environmentTable(
  schema: EnvironmentSchema,
  docs: Readonly<Record<string, VariableDoc>> = ENVIRONMENT_DOCS,
): string {
  const names = Object.keys(schema.shape);
  const problems: string[] = [];
  for (const name of names) {
    const doc = docs[name];
    if (!doc) {
      problems.push(`${name} has no entry in ENVIRONMENT_DOCS: add its meaning`);
      continue;
    }
    const fromSchema = schemaDefault(schema.shape[name] as z.ZodType);
    if (fromSchema === undefined && doc.default === undefined) {
      problems.push(`${name} has no default in the schema: its entry must say what applies`);
    }
    if (fromSchema !== undefined && doc.default !== undefined) {
      problems.push(`${name}'s default comes from the schema (${code(fromSchema)}): drop it`);
    }
  }
  for (const name of Object.keys(docs)) {
    if (!names.includes(name))
      problems.push(`${name} is documented but the schema reads no such variable`);
  }
  if (problems.length > 0) {
    throw new Error(`src/config.ts and its documentation disagree:\n${problems.join("\n")}`);
  }
  const rows = names.map((name) => {
    const doc = docs[name] as VariableDoc;
    const fromSchema = schemaDefault(schema.shape[name] as z.ZodType);
    const strict = [...productionRules(name), ...(doc.strict ? [doc.strict] : [])];
    return [
      code(name),
      fromSchema === undefined ? (doc.default as string) : code(fromSchema),
      strict.join("; "),
      doc.meaning,
    ];
  });
  return markdownTable(["variable", "default", "production and staging", "meaning"], rows);
}
