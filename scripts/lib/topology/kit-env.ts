import { randomBytes } from "node:crypto";

/**
 * The kit's configuration in the topology, laid out as deploy/docker-compose.prod.yml lays it
 * out: what .env.production holds (every process gets it), plus what the compose file sets per
 * service (the api's ENVIRONMENT, HOST, PORT and TRUST_PROXY; the worker's ENVIRONMENT), plus
 * what the image sets (NODE_ENV). test/unit/topology-agreement.test.ts holds the two to it.
 */

/** The database, and the two logins deploy/postgres-init/10-kit-logins.sh makes. */
export const DATABASE_NAME = "app";
export const TENANT_LOGIN = "app_api";
export const SYSTEM_LOGIN = "app_api_system";

/**
 * Liveness (the compose file's healthcheck), readiness (what the topology waits for at start)
 * and the balancer's probe (Caddy's health_uri).
 */
export const LIVENESS_PATH = "/health/live";
export const READINESS_PATH = "/health/ready";
export const BALANCER_PROBE_PATH = "/health/serving";

/** The compose file's stop_grace_period for the api and the worker. */
export const STOP_GRACE_MS = 30_000;

/** The commands of the image (deploy/Dockerfile) and of the compose file's services. */
/**
 * The API runs with --expose-gc: it collects its start-up garbage before it listens and gives
 * memory back after two quiet minutes (MEMORY_RETURN_WHEN_QUIET; src/memory.ts), in place of
 * V8's memory reducer, which would drop its optimized code in every lull of a minute.
 * Both cap V8's young generation and slow its old generation's growth, and the API allocates
 * nothing straight into the old generation and runs without Maglev, V8's mid-tier compiler, whose
 * memory on Node 24 kept it over its peak goal (docs/operations.md#memory), as the image does.
 */
export const API_COMMAND = [
  "node",
  "--expose-gc",
  "--max-semi-space-size=8",
  "--heap-growing-percent=30",
  "--no-allocation-site-pretenuring",
  "--no-memory-reducer",
  "--no-maglev",
  "dist/src/main.js",
] as const;
export const WORKER_COMMAND = [
  "node",
  "--max-semi-space-size=8",
  "--heap-growing-percent=75",
  "dist/src/worker.js",
] as const;
export const MIGRATE_COMMAND = ["node", "dist/scripts/migrate.js"] as const;

/**
 * Names only, never reached: the kit demands https URLs in production, and the topology serves
 * plain HTTP on the loopback. Links in the mails point at FRONTEND_URL, tokens are issued for
 * PUBLIC_URL; neither is fetched by the kit.
 */
export const PUBLIC_URL = "https://api.topology.localhost";
export const FRONTEND_URL = "https://app.topology.localhost";

export interface TopologySecrets {
  readonly secretKey: string;
  readonly metricsToken: string;
  readonly ownerPassword: string;
  readonly tenantPassword: string;
  readonly systemPassword: string;
}

/** New secrets for each run, made as the compose file's comments say to make them. */
export function generateSecrets(): TopologySecrets {
  return {
    secretKey: randomBytes(48).toString("base64"),
    metricsToken: randomBytes(32).toString("base64"),
    ownerPassword: randomBytes(32).toString("hex"),
    tenantPassword: randomBytes(32).toString("hex"),
    systemPassword: randomBytes(32).toString("hex"),
  };
}

export interface SharedEnvironmentInput {
  readonly secrets: TopologySecrets;
  readonly pgbouncerPort: number;
  readonly redisPort: number;
  readonly smtpPort: number;
  /** Named prepared statements through a PgBouncer that does not track them (see services.ts). */
  readonly preparedStatements: boolean;
}

const login = (user: string, password: string, port: number) =>
  `postgres://${user}:${password}@127.0.0.1:${port}/${DATABASE_NAME}`;

/** What .env.production holds in the compose set-up: every kit process gets it. */
export function sharedEnvironment(input: SharedEnvironmentInput): Record<string, string> {
  const { secrets } = input;
  return {
    SECRET_KEY: secrets.secretKey,
    METRICS_TOKEN: secrets.metricsToken,
    // Both pools through PgBouncer, each as its own login (docs/tenancy.md#two-pools-two-logins).
    DATABASE_URL: login(TENANT_LOGIN, secrets.tenantPassword, input.pgbouncerPort),
    DATABASE_SYSTEM_URL: login(SYSTEM_LOGIN, secrets.systemPassword, input.pgbouncerPort),
    DATABASE_PREPARED_STATEMENTS: String(input.preparedStatements),
    // Behind PgBouncer a tenant's share counts against PgBouncer's server connections (8 for
    // the tenant login, services.ts), not the 10 of each API's pool: 2 per API, 4 of the 8 with
    // two APIs, so a tenant with hanging statements leaves half of them to the others.
    DATABASE_TENANT_CONNECTIONS: "2",
    REDIS_URL: `redis://127.0.0.1:${input.redisPort}`,
    CORS_ORIGINS: FRONTEND_URL,
    PUBLIC_URL,
    FRONTEND_URL,
    SMTP_URL: `smtp://127.0.0.1:${input.smtpPort}`,
    MAIL_FROM: "Agency Kit <no-reply@topology.localhost>",
  };
}

/** What the image sets for every process it runs (deploy/Dockerfile's ENV). */
export const IMAGE_ENVIRONMENT = { NODE_ENV: "production" } as const;

/** The compose file's `environment:` of the api, but for the address (loopback, a free port). */
export function apiEnvironment(shared: Record<string, string>, port: number) {
  return {
    ...IMAGE_ENVIRONMENT,
    ...shared,
    ENVIRONMENT: "production",
    HOST: "127.0.0.1",
    PORT: String(port),
    // Only Caddy should reach the APIs, and Caddy replaces X-Forwarded-For with the address it
    // saw. On one machine any local process could reach them too: a loopback-only sandbox.
    TRUST_PROXY: "true",
  };
}

/** The compose file's `environment:` of the worker. */
export function workerEnvironment(shared: Record<string, string>) {
  return { ...IMAGE_ENVIRONMENT, ...shared, ENVIRONMENT: "production" };
}
