import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { z } from "zod";

/**
 * The whole runtime configuration, read once from the environment.
 * `loadConfig` is pure (it reads only the object it is given) so tests can build any config.
 */

const ENVIRONMENTS = ["development", "test", "staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
/**
 * Which requests get a completion line at info (request-context.ts): every one, or only those
 * answered 4xx or 5xx and those slower than REQUEST_LOG_SLOW_MS.
 */
const REQUEST_LOG_MODES = ["all", "errors-and-slow"] as const;
const DEFAULT_REQUEST_LOG: (typeof REQUEST_LOG_MODES)[number] = "all";
/** The samplers of OTEL_TRACES_SAMPLER the kit builds (the OpenTelemetry SDK's own names). */
const TRACE_SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;
type TraceSampler = (typeof TRACE_SAMPLERS)[number];

/** Values that appear in examples and tutorials; a production secret must never be one of them. */
const PLACEHOLDER_SECRETS = [
  "changeme",
  "change-me",
  "change_me",
  "secret",
  "secret-key",
  "secret_key",
  "your-secret-key",
  "your_secret_key",
  "supersecret",
  "development",
  "password",
  "replace-me-with-a-long-random-string-of-64-characters",
];

const MIN_SECRET_LENGTH = 32;
/** Below this estimate (see `estimatedEntropyBits`) a production secret is refused as guessable. */
const MIN_SECRET_BITS = 128;

const emptyAsUndefined = (value: unknown) =>
  typeof value === "string" && value.trim() === "" ? undefined : value;

const optionalString = z.preprocess(emptyAsUndefined, z.string().optional());
const optionalUrl = z.preprocess(emptyAsUndefined, z.url().optional());
const booleanFlag = z.preprocess(emptyAsUndefined, z.stringbool().optional());
const positiveInt = (fallback: number) =>
  z.preprocess(emptyAsUndefined, z.coerce.number().int().positive().default(fallback));

/** The environment variables the kit reads; docs are generated from it (scripts/docs.ts). */
export const environmentSchema = z.object({
  ENVIRONMENT: z.preprocess(emptyAsUndefined, z.enum(ENVIRONMENTS).default("development")),
  HOST: z.preprocess(emptyAsUndefined, z.string().default("127.0.0.1")),
  PORT: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(0).max(65535).default(8000)),
  LOG_LEVEL: z.preprocess(emptyAsUndefined, z.enum(LOG_LEVELS).optional()),
  LOG_PRETTY: booleanFlag,
  REQUEST_LOG: z.preprocess(emptyAsUndefined, z.enum(REQUEST_LOG_MODES).optional()),
  REQUEST_LOG_SLOW_MS: positiveInt(1_000),
  MEMORY_RETURN_WHEN_QUIET: booleanFlag,
  DATABASE_URL: optionalUrl,
  DATABASE_POOL_SIZE: positiveInt(10),
  DATABASE_SYSTEM_URL: optionalUrl,
  DATABASE_SYSTEM_POOL_SIZE: positiveInt(5),
  DATABASE_PREPARED_STATEMENTS: booleanFlag,
  DATABASE_PIPELINE_CONNECTIONS: z.preprocess(
    emptyAsUndefined,
    z.coerce.number().int().min(0).max(64).default(2),
  ),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt(10_000),
  DATABASE_TENANT_CONNECTIONS: z.preprocess(
    emptyAsUndefined,
    z.coerce.number().int().min(1).optional(),
  ),
  PGLITE_DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default(".data/pglite")),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  REDIS_URL: optionalUrl,
  REDIS_KEY_PREFIX: z.preprocess(emptyAsUndefined, z.string().max(64).default("kit:")),
  SMTP_URL: optionalUrl,
  MAIL_FROM: optionalString,
  WORKER_CONCURRENCY: positiveInt(5),
  RATE_LIMIT_ENABLED: booleanFlag,
  RATE_LIMIT_FAIL_OPEN: booleanFlag,
  RATE_LIMIT_IP: positiveInt(600),
  RATE_LIMIT_FREE: positiveInt(300),
  RATE_LIMIT_PRO: positiveInt(1_200),
  RATE_LIMIT_ENTERPRISE: positiveInt(6_000),
  INVITATION_LIMIT_PER_INVITER: positiveInt(20),
  INVITATION_LIMIT_PER_TENANT: positiveInt(100),
  SECRET_KEY: optionalString,
  CORS_ORIGINS: optionalString,
  PUBLIC_URL: optionalUrl,
  FRONTEND_URL: optionalUrl,
  PROBLEM_TYPE_BASE_URL: optionalUrl,
  METRICS_TOKEN: optionalString,
  TRUST_PROXY: booleanFlag,
  BODY_LIMIT_BYTES: positiveInt(1_048_576),
  REQUEST_TIMEOUT_MS: positiveInt(30_000),
  HEADERS_TIMEOUT_MS: positiveInt(10_000),
  KEEP_ALIVE_TIMEOUT_MS: positiveInt(72_000),
  SHUTDOWN_TIMEOUT_MS: positiveInt(10_000),
  SHUTDOWN_DRAIN_MS: z.preprocess(
    emptyAsUndefined,
    z.coerce.number().int().min(0).max(120_000).optional(),
  ),
  REFRESH_GRACE_SECONDS: z.preprocess(
    emptyAsUndefined,
    z.coerce.number().int().min(0).max(60).default(5),
  ),
  SESSION_MAX_AGE_DAYS: positiveInt(30),
  TENANT_CREATION_LIMIT_PER_USER: positiveInt(10),
  GOOGLE_CLIENT_ID: optionalString,
  GOOGLE_CLIENT_SECRET: optionalString,
  GOOGLE_ISSUER: optionalUrl,
  MICROSOFT_CLIENT_ID: optionalString,
  MICROSOFT_CLIENT_SECRET: optionalString,
  MICROSOFT_TENANT: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$/,
        "must be common, organizations, a tenant id or domain",
      )
      .default("common"),
  ),
  MICROSOFT_ISSUER: optionalUrl,
  GITHUB_CLIENT_ID: optionalString,
  GITHUB_CLIENT_SECRET: optionalString,
  GITHUB_URL: optionalUrl,
  GITHUB_API_URL: optionalUrl,
  OAUTH_TIMEOUT_MS: positiveInt(10_000),
  OTEL_SDK_DISABLED: booleanFlag,
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
  OTEL_SERVICE_NAME: z.preprocess(emptyAsUndefined, z.string().default("agency-saas-kit")),
  OTEL_TRACES_SAMPLER: z.preprocess(
    emptyAsUndefined,
    z.enum(TRACE_SAMPLERS).default("parentbased_always_on"),
  ),
  OTEL_TRACES_SAMPLER_ARG: z.preprocess(
    emptyAsUndefined,
    z.coerce.number().min(0).max(1).default(1),
  ),
  TRUST_TRACEPARENT: booleanFlag,
  WORKER_METRICS_PORT: z.preprocess(
    emptyAsUndefined,
    z.coerce.number().int().min(1).max(65535).optional(),
  ),
});

/** The OAuth providers the kit knows; each is enabled by its client id and secret. */
export const OAUTH_PROVIDERS = ["google", "microsoft", "github"] as const;
export type OAuthProviderName = (typeof OAUTH_PROVIDERS)[number];

/** An OpenID Connect provider: everything else is found by discovery at the issuer. */
export interface OidcProviderSettings {
  readonly kind: "oidc";
  readonly clientId: string;
  readonly clientSecret: string;
  readonly issuer: string;
}

/** GitHub, which speaks plain OAuth 2.0: its web and API base URLs. */
export interface GitHubProviderSettings {
  readonly kind: "github";
  readonly clientId: string;
  readonly clientSecret: string;
  readonly url: string;
  readonly apiUrl: string;
}

export type OAuthProviderSettings = OidcProviderSettings | GitHubProviderSettings;

export interface Config {
  readonly environment: Environment;
  readonly host: string;
  readonly port: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly logPretty: boolean;
  /** Which requests get a completion log line (docs/configuration.md#runtime). */
  readonly requestLog: (typeof REQUEST_LOG_MODES)[number];
  /** In errors-and-slow mode, a request this slow or slower is logged whatever its status. */
  readonly requestLogSlowMs: number;
  /** A last-resort collection after quiet spells, with --expose-gc (src/memory.ts). */
  readonly memoryReturnWhenQuiet: boolean;
  /** The tenant pool: a login that can assume app_tenant only (docs/tenancy.md#roles). */
  readonly databaseUrl: string | undefined;
  readonly databasePoolSize: number;
  /** The system pool: a login that can assume app_system; DATABASE_URL's outside production. */
  readonly databaseSystemUrl: string | undefined;
  readonly databaseSystemPoolSize: number;
  /** Named prepared statements; off behind PgBouncer older than 1.21 in transaction mode. */
  readonly databasePreparedStatements: boolean;
  /**
   * Connections beside the tenant pool on which tenant reads are pipelined
   * (src/core/database/pg-read-pipeline.ts); 0 sends them to the pool.
   */
  readonly databasePipelineConnections: number;
  /** statement_timeout and idle_in_transaction_session_timeout of every transaction. */
  readonly databaseStatementTimeoutMs: number;
  /** How many of a process's tenant-pool connections one tenant may hold at once. */
  readonly databaseTenantConnections: number;
  readonly pgliteDataDir: string;
  readonly jwtIssuer: string;
  readonly jwtAudience: string;
  readonly redisUrl: string | undefined;
  /** SMTP server for outgoing mail; without it (development only) mail goes to the log. */
  readonly smtpUrl: string | undefined;
  readonly mailFrom: string;
  /** Jobs a worker process runs at once. */
  readonly workerConcurrency: number;
  /** Prefix of every Redis key the kit writes, so several apps can share one Redis. */
  readonly redisKeyPrefix: string;
  readonly rateLimit: {
    readonly enabled: boolean;
    readonly failOpen: boolean;
    /** Requests a minute. */
    readonly perIp: number;
    readonly perTenant: {
      readonly free: number;
      readonly pro: number;
      readonly enterprise: number;
    };
  };
  readonly invitations: {
    /** Invitations one member may send an hour. */
    readonly perInviterPerHour: number;
    /** Invitations one tenant may send a day, all members together. */
    readonly perTenantPerDay: number;
  };
  readonly secretKey: string;
  readonly corsOrigins: readonly string[];
  readonly publicUrl: string;
  readonly frontendUrl: string;
  readonly problemTypeBaseUrl: string;
  readonly metricsToken: string | undefined;
  readonly trustProxy: boolean;
  readonly bodyLimitBytes: number;
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  /** How long a signalled server drains (readiness 503, still serving) before it closes. */
  readonly shutdownDrainMs: number;
  readonly sessions: {
    /** How long a rotated refresh token still gets its successor (racing tabs), in seconds. */
    readonly refreshGraceSeconds: number;
    /** A session ends this long after sign-in, however often it is refreshed. */
    readonly maxAgeDays: number;
  };
  /** Calls one user may make to POST /api/v1/tenants a day (registration's tenant aside). */
  readonly tenantCreationsPerUserPerDay: number;
  readonly oauth: {
    /** The configured providers only: a provider is enabled by its client id and secret. */
    readonly providers: Readonly<Partial<Record<OAuthProviderName, OAuthProviderSettings>>>;
    /** The longest a request to a provider may take. */
    readonly timeoutMs: number;
  };
  /** Traces over OTLP (docs/observability.md); off unless an endpoint is configured. */
  readonly tracing: TracingSettings;
  /** Where a worker process serves /metrics; undefined: it serves none. */
  readonly workerMetricsPort: number | undefined;
  /** Things the operator should know at start-up (for example a derived development secret). */
  readonly notices: readonly string[];
}

export interface TracingSettings {
  /** The OTLP/HTTP traces URL (`.../v1/traces`); undefined when tracing is off. */
  readonly endpoint: string | undefined;
  /** `service.name` of the API's spans; the worker's are `<serviceName>-worker`. */
  readonly serviceName: string;
  readonly sampler: TraceSampler;
  /** The ratio of the `traceidratio` samplers, 0 to 1. */
  readonly samplerRatio: number;
  /** Whether an incoming request's `traceparent` is continued; otherwise a new trace starts. */
  readonly trustTraceparent: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Environments that must be configured explicitly: nothing is derived or defaulted for them. */
export const isStrictEnvironment = (environment: Environment) =>
  environment === "production" || environment === "staging";

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`),
    );
  }
  const raw = parsed.data;
  const strict = isStrictEnvironment(raw.ENVIRONMENT);
  const problems: string[] = [];
  const notices: string[] = [];

  let secretKey = raw.SECRET_KEY;
  if (strict) {
    problems.push(
      ...(secretKey
        ? secretProblems("SECRET_KEY", secretKey, "openssl rand -base64 48")
        : ["SECRET_KEY is required"]),
    );
    problems.push(
      ...(raw.METRICS_TOKEN
        ? secretProblems("METRICS_TOKEN", raw.METRICS_TOKEN, "openssl rand -base64 32")
        : [
            `METRICS_TOKEN is required in ${raw.ENVIRONMENT}: without it /metrics is open to anyone who reaches the API`,
          ]),
    );
    if (!raw.DATABASE_URL) problems.push(`DATABASE_URL is required in ${raw.ENVIRONMENT}`);
    problems.push(
      ...systemLoginProblems(raw.DATABASE_URL, raw.DATABASE_SYSTEM_URL, raw.ENVIRONMENT),
    );
    if (!raw.REDIS_URL) problems.push(`REDIS_URL is required in ${raw.ENVIRONMENT}`);
    if (!raw.CORS_ORIGINS) problems.push(`CORS_ORIGINS is required in ${raw.ENVIRONMENT}`);
    if (!raw.PUBLIC_URL) problems.push(`PUBLIC_URL is required in ${raw.ENVIRONMENT}`);
    if (!raw.FRONTEND_URL) problems.push(`FRONTEND_URL is required in ${raw.ENVIRONMENT}`);
    // Tokens, refresh cookies and mailed links travel to and from these: never in clear text.
    for (const [variable, value] of [
      ["PUBLIC_URL", raw.PUBLIC_URL],
      ["FRONTEND_URL", raw.FRONTEND_URL],
    ] as const) {
      if (value && new URL(value).protocol !== "https:") {
        problems.push(`${variable} must be an https URL in ${raw.ENVIRONMENT}`);
      }
    }
    if (!raw.SMTP_URL) problems.push(`SMTP_URL is required in ${raw.ENVIRONMENT}`);
    if (!raw.MAIL_FROM) problems.push(`MAIL_FROM is required in ${raw.ENVIRONMENT}`);
  } else if (raw.DATABASE_URL && !raw.DATABASE_SYSTEM_URL) {
    notices.push(
      `DATABASE_SYSTEM_URL is not set: DATABASE_URL's login also does system work, so it can assume app_system, and so could SQL injected into a tenant transaction (${raw.ENVIRONMENT} only)`,
    );
  }
  if (!strict && !secretKey) {
    secretKey = deriveDevelopmentSecret(raw.ENVIRONMENT);
    notices.push(
      `SECRET_KEY is not set: using a key derived from this machine and folder (${raw.ENVIRONMENT} only; tokens it signs are not secret)`,
    );
  }

  const corsOrigins = parseOrigins(raw.CORS_ORIGINS ?? "http://localhost:3000");
  if (corsOrigins.includes("*")) {
    if (strict) {
      problems.push(`CORS_ORIGINS must list origins, not "*", in ${raw.ENVIRONMENT}`);
    } else {
      notices.push('CORS_ORIGINS is "*": any web page may call this API with credentials');
    }
  }
  for (const origin of corsOrigins) {
    if (origin !== "*" && !isOrigin(origin)) {
      problems.push(
        `CORS_ORIGINS entry "${origin}" is not an origin such as https://app.example.com`,
      );
    }
  }

  const oauthProviders = oauthProvidersOf(raw, strict, problems, notices);

  if (
    raw.DATABASE_TENANT_CONNECTIONS !== undefined &&
    raw.DATABASE_TENANT_CONNECTIONS > raw.DATABASE_POOL_SIZE
  ) {
    problems.push("DATABASE_TENANT_CONNECTIONS must not exceed DATABASE_POOL_SIZE");
  }
  if (raw.HEADERS_TIMEOUT_MS > raw.REQUEST_TIMEOUT_MS) {
    problems.push("HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS");
  }

  if (problems.length > 0) throw new ConfigError(problems);

  const publicUrl = stripTrailingSlash(raw.PUBLIC_URL ?? `http://localhost:${raw.PORT}`);
  const config: Config = {
    environment: raw.ENVIRONMENT,
    host: raw.HOST,
    port: raw.PORT,
    logLevel: raw.LOG_LEVEL ?? (raw.ENVIRONMENT === "test" ? "silent" : "info"),
    logPretty: raw.LOG_PRETTY ?? raw.ENVIRONMENT === "development",
    requestLog: raw.REQUEST_LOG ?? DEFAULT_REQUEST_LOG,
    requestLogSlowMs: raw.REQUEST_LOG_SLOW_MS,
    memoryReturnWhenQuiet: raw.MEMORY_RETURN_WHEN_QUIET ?? true,
    databaseUrl: raw.DATABASE_URL,
    databasePoolSize: raw.DATABASE_POOL_SIZE,
    databaseSystemUrl: raw.DATABASE_SYSTEM_URL ?? raw.DATABASE_URL,
    databaseSystemPoolSize: raw.DATABASE_SYSTEM_POOL_SIZE,
    databasePreparedStatements: raw.DATABASE_PREPARED_STATEMENTS ?? true,
    databasePipelineConnections: raw.DATABASE_PIPELINE_CONNECTIONS,
    databaseStatementTimeoutMs: raw.DATABASE_STATEMENT_TIMEOUT_MS,
    // Half the pool by default: one tenant's slow statements leave the other half to the rest.
    databaseTenantConnections:
      raw.DATABASE_TENANT_CONNECTIONS ?? Math.max(1, Math.floor(raw.DATABASE_POOL_SIZE / 2)),
    pgliteDataDir: raw.PGLITE_DATA_DIR,
    jwtIssuer: raw.JWT_ISSUER ?? publicUrl,
    jwtAudience: raw.JWT_AUDIENCE ?? `${publicUrl}/api`,
    redisUrl: raw.REDIS_URL,
    redisKeyPrefix: raw.REDIS_KEY_PREFIX,
    smtpUrl: raw.SMTP_URL,
    mailFrom: raw.MAIL_FROM ?? "Agency Kit <no-reply@localhost>",
    workerConcurrency: raw.WORKER_CONCURRENCY,
    rateLimit: Object.freeze({
      enabled: raw.RATE_LIMIT_ENABLED ?? true,
      failOpen: raw.RATE_LIMIT_FAIL_OPEN ?? true,
      perIp: raw.RATE_LIMIT_IP,
      perTenant: Object.freeze({
        free: raw.RATE_LIMIT_FREE,
        pro: raw.RATE_LIMIT_PRO,
        enterprise: raw.RATE_LIMIT_ENTERPRISE,
      }),
    }),
    invitations: Object.freeze({
      perInviterPerHour: raw.INVITATION_LIMIT_PER_INVITER,
      perTenantPerDay: raw.INVITATION_LIMIT_PER_TENANT,
    }),
    secretKey: secretKey as string,
    corsOrigins,
    publicUrl,
    frontendUrl: stripTrailingSlash(raw.FRONTEND_URL ?? "http://localhost:3000"),
    problemTypeBaseUrl: stripTrailingSlash(raw.PROBLEM_TYPE_BASE_URL ?? `${publicUrl}/problems`),
    metricsToken: raw.METRICS_TOKEN,
    trustProxy: raw.TRUST_PROXY ?? false,
    bodyLimitBytes: raw.BODY_LIMIT_BYTES,
    requestTimeoutMs: raw.REQUEST_TIMEOUT_MS,
    headersTimeoutMs: raw.HEADERS_TIMEOUT_MS,
    keepAliveTimeoutMs: raw.KEEP_ALIVE_TIMEOUT_MS,
    shutdownTimeoutMs: raw.SHUTDOWN_TIMEOUT_MS,
    // Behind a load balancer the drain must outlast its health-check interval; a developer's
    // Ctrl-C should not wait.
    shutdownDrainMs: raw.SHUTDOWN_DRAIN_MS ?? (isStrictEnvironment(raw.ENVIRONMENT) ? 5_000 : 0),
    sessions: Object.freeze({
      refreshGraceSeconds: raw.REFRESH_GRACE_SECONDS,
      maxAgeDays: raw.SESSION_MAX_AGE_DAYS,
    }),
    tenantCreationsPerUserPerDay: raw.TENANT_CREATION_LIMIT_PER_USER,
    oauth: Object.freeze({ providers: oauthProviders, timeoutMs: raw.OAUTH_TIMEOUT_MS }),
    tracing: Object.freeze({
      endpoint: raw.OTEL_SDK_DISABLED ? undefined : tracesEndpoint(raw),
      serviceName: raw.OTEL_SERVICE_NAME,
      sampler: raw.OTEL_TRACES_SAMPLER,
      samplerRatio: raw.OTEL_TRACES_SAMPLER_ARG,
      trustTraceparent: raw.TRUST_TRACEPARENT ?? false,
    }),
    workerMetricsPort: raw.WORKER_METRICS_PORT,
    notices,
  };
  return Object.freeze(config);
}

/**
 * The providers with both a client id and a secret. Half a pair is a mistake: refused in
 * production and staging, a notice elsewhere. Production and staging also refuse provider
 * URLs without TLS.
 */
function oauthProvidersOf(
  raw: z.infer<typeof environmentSchema>,
  strict: boolean,
  problems: string[],
  notices: string[],
): Partial<Record<OAuthProviderName, OAuthProviderSettings>> {
  const credentials = (name: string, id: string | undefined, secret: string | undefined) => {
    if (id && secret) return { clientId: id, clientSecret: secret };
    if (id || secret) {
      const message = `${name}_CLIENT_ID and ${name}_CLIENT_SECRET must be set together; ${name.toLowerCase()} sign-in is off`;
      (strict ? problems : notices).push(message);
    }
    return undefined;
  };
  const url = (variable: string, value: string) => {
    if (strict && new URL(value).protocol !== "https:") {
      problems.push(`${variable} must be an https URL in ${raw.ENVIRONMENT}`);
    }
    return stripTrailingSlash(value);
  };

  const providers: Partial<Record<OAuthProviderName, OAuthProviderSettings>> = {};
  const google = credentials("GOOGLE", raw.GOOGLE_CLIENT_ID, raw.GOOGLE_CLIENT_SECRET);
  if (google) {
    const issuer = url("GOOGLE_ISSUER", raw.GOOGLE_ISSUER ?? "https://accounts.google.com");
    providers.google = Object.freeze({ kind: "oidc", ...google, issuer });
  }
  const microsoft = credentials("MICROSOFT", raw.MICROSOFT_CLIENT_ID, raw.MICROSOFT_CLIENT_SECRET);
  if (microsoft) {
    const issuer = url(
      "MICROSOFT_ISSUER",
      raw.MICROSOFT_ISSUER ?? `https://login.microsoftonline.com/${raw.MICROSOFT_TENANT}/v2.0`,
    );
    providers.microsoft = Object.freeze({ kind: "oidc", ...microsoft, issuer });
  }
  const github = credentials("GITHUB", raw.GITHUB_CLIENT_ID, raw.GITHUB_CLIENT_SECRET);
  if (github) {
    providers.github = Object.freeze({
      kind: "github",
      ...github,
      url: url("GITHUB_URL", raw.GITHUB_URL ?? "https://github.com"),
      apiUrl: url("GITHUB_API_URL", raw.GITHUB_API_URL ?? "https://api.github.com"),
    });
  }
  return Object.freeze(providers);
}

/**
 * What is wrong with a secret production relies on (SECRET_KEY, METRICS_TOKEN): too short, a
 * placeholder from an example, or made up by a person rather than a generator. One problem at
 * most, the first that applies, with the command that makes a good one.
 */
function secretProblems(variable: string, secret: string, generate: string): string[] {
  if (secret.length < MIN_SECRET_LENGTH) {
    return [`${variable} must be at least ${MIN_SECRET_LENGTH} characters`];
  }
  const normalised = secret.trim().toLowerCase();
  if (PLACEHOLDER_SECRETS.some((placeholder) => normalised.includes(placeholder))) {
    return [`${variable} is a known placeholder; generate one with \`${generate}\``];
  }
  const bits = estimatedEntropyBits(secret);
  if (bits < MIN_SECRET_BITS) {
    return [
      `${variable} is guessable: about ${Math.floor(bits)} bits of entropy, at least ${MIN_SECRET_BITS} needed (repeats, sequences and few distinct characters count for little); generate one with \`${generate}\``,
    ];
  }
  return [];
}

/**
 * A conservative estimate of a secret's entropy, in bits, that tells a generator's output from
 * a key a person typed. The key is cut into pieces the way a compressor would, longest first:
 * a repeat of three or more characters seen earlier in the key (`abcabc`, `aaaa`), or the
 * continuation of the step between the two characters before (`1234`, `abcd`, `9753`), else a
 * single character. Each piece is worth log2 of the number of distinct characters in the key.
 * `0123456789012345678901234567890123` is 4 pieces of log2(10) bits: about 13.
 */
function estimatedEntropyBits(secret: string): number {
  const codes = Array.from(secret, (character) => character.codePointAt(0) ?? 0);
  const at = (index: number) => codes[index] ?? Number.NaN;
  let pieces = 0;
  for (let index = 0; index < codes.length; pieces += 1) {
    let longest = 1;
    if (index >= 2) {
      const step = at(index - 1) - at(index - 2);
      let run = 0;
      while (index + run < codes.length && at(index + run) - at(index + run - 1) === step) {
        run += 1;
      }
      longest = Math.max(longest, run);
    }
    for (let start = 0; start < index; start += 1) {
      let length = 0;
      while (index + length < codes.length && at(start + length) === at(index + length)) {
        length += 1;
      }
      if (length >= 3) longest = Math.max(longest, length);
    }
    index += longest;
  }
  return pieces * Math.log2(Math.max(new Set(codes).size, 2));
}

/** A stable per-checkout key, so development tokens survive restarts without anything on disk. */
function deriveDevelopmentSecret(environment: Environment): string {
  return createHash("sha256")
    .update(`agency-kit:${environment}:${hostname()}:${process.cwd()}`)
    .digest("base64url");
}

function parseOrigins(value: string): string[] {
  return value
    .split(",")
    .map((origin) => stripTrailingSlash(origin.trim()))
    .filter((origin) => origin.length > 0);
}

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.origin === value;
  } catch {
    return false;
  }
}

/**
 * Production's two pools log in as two different roles: the tenant pool's may assume
 * app_tenant only, the system pool's app_system (what each login may do is checked against the
 * database at start-up, in core/database/logins.ts).
 */
function systemLoginProblems(
  tenantUrl: string | undefined,
  systemUrl: string | undefined,
  environment: Environment,
): string[] {
  if (!tenantUrl) return [];
  if (!systemUrl) {
    return [
      `DATABASE_SYSTEM_URL is required in ${environment}: a login for system work other than DATABASE_URL's (docs/tenancy.md#roles)`,
    ];
  }
  const login = (url: string) => decodeURIComponent(new URL(url).username);
  return login(tenantUrl) === login(systemUrl)
    ? ["DATABASE_SYSTEM_URL must log in as another role than DATABASE_URL"]
    : [];
}

/**
 * The traces endpoint as the OpenTelemetry specification derives it: the signal's own variable
 * as it is, or the base endpoint with `/v1/traces` appended.
 */
function tracesEndpoint(raw: z.infer<typeof environmentSchema>): string | undefined {
  if (raw.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return raw.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (!raw.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  return `${stripTrailingSlash(raw.OTEL_EXPORTER_OTLP_ENDPOINT)}/v1/traces`;
}

function stripTrailingSlash(value: string): string {
  return value.endsWith("/") ? value.slice(0, -1) : value;
}

/**
 * The configuration of a process started from the command line (the API, the worker, the
 * scripts): a local .env fills in what the real environment leaves unset, never overriding it;
 * `defaults` fill in before that. A bad configuration prints every problem and exits with 78
 * (EX_CONFIG), so nothing runs misconfigured.
 */
export function loadProcessConfig(defaults: Record<string, string> = {}): Config {
  if (existsSync(".env")) process.loadEnvFile(".env");
  try {
    return loadConfig({ ...defaults, ...process.env });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(78);
    }
    throw error;
  }
}
