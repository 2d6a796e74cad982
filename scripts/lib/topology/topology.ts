import { execFile } from "node:child_process";
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { loopbackCaddyfile } from "./caddyfile.js";
import {
  API_COMMAND,
  apiEnvironment,
  DATABASE_NAME,
  generateSecrets,
  LIVENESS_PATH,
  MIGRATE_COMMAND,
  PUBLIC_URL,
  READINESS_PATH,
  STOP_GRACE_MS,
  SYSTEM_LOGIN,
  sharedEnvironment,
  TENANT_LOGIN,
  WORKER_COMMAND,
  workerEnvironment,
} from "./kit-env.js";
import { type Exit, ManagedProcess, onUnplannedExit } from "./managed-process.js";
import { freePort, waitUntil } from "./ports.js";
import {
  type PrivatePostgres,
  postgresBinaries,
  startPrivatePostgres,
} from "./private-postgres.js";
import {
  postgresUser,
  REQUIRED_PROGRAMS,
  type Service,
  startCaddy,
  startPgBouncer,
  startRedis,
} from "./services.js";
import { type SmtpSink, startSmtpSink } from "./smtp-sink.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * The production topology of deploy/docker-compose.prod.yml on one machine, without Docker:
 * Caddy -> several API processes -> PgBouncer (transaction pooling) -> PostgreSQL, with Redis,
 * several workers and an SMTP sink; everything on 127.0.0.1, on free ports, with its files in a
 * temporary directory. docs/operations.md#the-topology-on-one-machine describes it.
 */

export interface TopologyOptions {
  /** API processes behind Caddy; 2 unless given. */
  readonly apis?: number;
  /** Worker processes; 2 unless given. */
  readonly workers?: number;
  /** DATABASE_PREPARED_STATEMENTS of the kit's processes; false unless given. */
  readonly preparedStatements?: boolean;
  /** Progress messages (the command prints them); silent unless given. */
  readonly log?: (message: string) => void;
}

/** An API or worker process of the kit. */
interface KitProcess {
  readonly name: string;
  readonly kind: "api" | "worker";
  /** The API's port on 127.0.0.1 (the same on every start); undefined for a worker. */
  readonly port: number | undefined;
  readonly process: ManagedProcess;
  /** Starts it (with `env` replacing variables from now on) and waits until it is ready. */
  start(env?: Readonly<Record<string, string>>): Promise<void>;
  /** SIGTERM (the API drains first), then SIGKILL after the compose file's grace period. */
  stop(signal?: NodeJS.Signals): Promise<Exit | undefined>;
}

export interface Topology {
  /** Caddy's address: the way in, as https://<DOMAIN> is in production. */
  readonly url: string;
  readonly directory: string;
  readonly logDirectory: string;
  readonly postgres: PrivatePostgres;
  /** The owner's URL of the kit's database, straight to PostgreSQL (migrations, inspection). */
  readonly ownerUrl: string;
  /** The kit's two logins, through PgBouncer. */
  readonly databaseUrls: { readonly tenant: string; readonly system: string };
  readonly pgbouncer: Service;
  readonly redis: Service;
  readonly caddy: Service;
  readonly apis: readonly KitProcess[];
  readonly workers: readonly KitProcess[];
  readonly mail: SmtpSink;
  /** The bearer token of /metrics on the API processes. */
  readonly metricsToken: string;
  /** Stops every API and worker, then starts them all again with `env` replacing variables. */
  restartKit(env?: Readonly<Record<string, string>>): Promise<void>;
  /** Every process id of the topology that runs now (PostgreSQL's postmaster included). */
  pids(): number[];
  /** A table of the parts: where each listens, its process id and its log. */
  describe(): string;
  /** APIs and workers (SIGTERM), then Caddy, PgBouncer, Redis, PostgreSQL; removes the files. */
  stop(): Promise<void>;
}

interface Parts {
  directory?: string;
  removeExitHook?: () => void;
  mail?: SmtpSink;
  postgres?: PrivatePostgres;
  redis?: Service;
  pgbouncer?: Service;
  caddy?: Service;
  kit: KitProcess[];
}

export async function startTopology(options: TopologyOptions = {}): Promise<Topology> {
  const log = options.log ?? (() => {});
  const path = process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin";
  await ensurePrograms(path, log);
  await ensureBuilt(log);

  const parts: Parts = { kit: [] };
  try {
    return await assemble(parts, options, path, log);
  } catch (error) {
    await stopParts(parts);
    throw error;
  }
}

async function assemble(
  parts: Parts,
  options: TopologyOptions,
  path: string,
  log: (message: string) => void,
): Promise<Topology> {
  const directory = mkdtempSync(join(tmpdir(), "kit-topology-"));
  parts.directory = directory;
  parts.removeExitHook = onUnplannedExit(() => {
    parts.postgres?.destroyNow();
    rmSync(directory, { recursive: true, force: true });
  });
  const runAs = postgresUser();
  // PgBouncer runs as postgres when the topology runs as root, and reads its files from here.
  if (runAs) chownSync(directory, runAs.uid, runAs.gid);
  const logDirectory = join(directory, "logs");
  mkdirSync(logDirectory);

  const secrets = generateSecrets();
  const [redisPort, pgbouncerPort, caddyPort, caddyAdminPort] = await Promise.all(
    [1, 2, 3, 4].map(() => freePort()),
  );
  const apiPorts = await Promise.all(Array.from({ length: options.apis ?? 2 }, () => freePort()));

  parts.mail = await startSmtpSink();
  const shared = sharedEnvironment({
    secrets,
    pgbouncerPort: pgbouncerPort as number,
    redisPort: redisPort as number,
    smtpPort: parts.mail.port,
    preparedStatements: options.preparedStatements ?? false,
  });

  log("starting PostgreSQL");
  const postgres = await startPrivatePostgres({
    superuserPassword: secrets.ownerPassword,
    maxConnections: 100,
  });
  parts.postgres = postgres;
  const ownerUrl = `postgres://postgres:${secrets.ownerPassword}@127.0.0.1:${postgres.port}/${DATABASE_NAME}`;
  await withClient(postgres.url, (client) => client.query(`CREATE DATABASE ${DATABASE_NAME}`));

  log("making the kit's logins (deploy/postgres-init/10-kit-logins.sh)");
  await makeLogins(postgres, secrets, path);

  log("migrating as the owner");
  await runToCompletion(
    "migrate",
    MIGRATE_COMMAND,
    {
      ...workerEnvironment(shared),
      DATABASE_URL: ownerUrl,
      PATH: path,
    },
    directory,
    logDirectory,
  );

  log("starting Redis and PgBouncer");
  parts.redis = await startRedis({ directory, logDirectory, port: redisPort as number, path });
  parts.pgbouncer = await startPgBouncer({
    directory,
    logDirectory,
    port: pgbouncerPort as number,
    path,
    postgresPort: postgres.port,
    database: DATABASE_NAME,
    logins: await scramSecrets(ownerUrl, [TENANT_LOGIN, SYSTEM_LOGIN]),
    systemLogin: SYSTEM_LOGIN,
    runAs,
  });

  log("starting the APIs and the workers");
  parts.kit = [
    ...apiPorts.map((port, index) =>
      kitProcess("api", index + 1, { ...apiEnvironment(shared, port), PATH: path }, port, {
        directory,
        logDirectory,
      }),
    ),
    ...Array.from({ length: options.workers ?? 2 }, (_, index) =>
      kitProcess("worker", index + 1, { ...workerEnvironment(shared), PATH: path }, undefined, {
        directory,
        logDirectory,
      }),
    ),
  ];
  await Promise.all(parts.kit.map((kit) => kit.start()));

  log("starting Caddy");
  const caddyfile = loopbackCaddyfile(readFileSync(join(root, "deploy/Caddyfile"), "utf8"), {
    port: caddyPort as number,
    adminPort: caddyAdminPort as number,
    upstreams: apiPorts.map((port) => `127.0.0.1:${port}`),
  });
  parts.caddy = await startCaddy({
    directory,
    logDirectory,
    port: caddyPort as number,
    path,
    caddyfile,
    domain: new URL(PUBLIC_URL).hostname,
  });
  const url = `http://127.0.0.1:${caddyPort}`;
  const caddy = parts.caddy;
  await throughCaddyReady(url, caddy);

  const apis = parts.kit.filter((kit) => kit.kind === "api");
  const workers = parts.kit.filter((kit) => kit.kind === "worker");
  const tenantUrl = shared.DATABASE_URL as string;
  const systemUrl = shared.DATABASE_SYSTEM_URL as string;
  let stopping: Promise<void> | undefined;

  const topology: Topology = {
    url,
    directory,
    logDirectory,
    postgres,
    ownerUrl,
    databaseUrls: { tenant: tenantUrl, system: systemUrl },
    pgbouncer: parts.pgbouncer,
    redis: parts.redis,
    caddy,
    apis,
    workers,
    mail: parts.mail,
    metricsToken: secrets.metricsToken,
    restartKit: async (env = {}) => {
      await Promise.all(parts.kit.map((kit) => kit.stop()));
      await Promise.all(parts.kit.map((kit) => kit.start(env)));
      await throughCaddyReady(url, caddy);
    },
    pids: () =>
      [
        ...parts.kit.map((kit) => kit.process),
        parts.redis?.process,
        parts.pgbouncer?.process,
        parts.caddy?.process,
      ]
        .filter((program) => program?.running)
        .map((program) => program?.pid as number)
        .concat(postgres.pid() ?? []),
    describe: () =>
      table([
        ["part", "listens on", "pid", "log"],
        ["caddy", url, pidOf(caddy.process), caddy.process.logFile],
        ["caddy admin", `http://127.0.0.1:${caddyAdminPort}`, "", ""],
        ...parts.kit.map((kit) => [
          kit.name,
          kit.port ? `http://127.0.0.1:${kit.port}` : "(no port)",
          pidOf(kit.process),
          kit.process.logFile,
        ]),
        [
          "pgbouncer",
          `127.0.0.1:${pgbouncerPort} (transaction pooling)`,
          pidOf(topology.pgbouncer.process),
          topology.pgbouncer.process.logFile,
        ],
        [
          "redis",
          `redis://127.0.0.1:${redisPort}`,
          pidOf(topology.redis.process),
          topology.redis.process.logFile,
        ],
        [
          "postgresql",
          `127.0.0.1:${postgres.port}, socket ${postgres.socketDirectory}`,
          String(postgres.pid() ?? ""),
          join(postgres.socketDirectory, "log"),
        ],
        [
          "smtp sink",
          `smtp://127.0.0.1:${topology.mail.port}`,
          String(process.pid),
          "(this process)",
        ],
      ]),
    stop: () => {
      stopping ??= stopParts(parts);
      return stopping;
    },
  };
  return topology;
}

const pidOf = (program: ManagedProcess) => String(program.pid ?? "");

function table(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? "").length)),
  );
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/**
 * Stops what has started, in order: the APIs (they drain) and the workers (they hand back their
 * jobs) first, then Caddy, PgBouncer, Redis and PostgreSQL; then removes the files. Every step
 * runs even if one before it failed.
 */
async function stopParts(parts: Parts): Promise<void> {
  const steps: (() => Promise<unknown>)[] = [
    () => Promise.all(parts.kit.map((kit) => kit.stop())),
    async () => parts.caddy?.stop(),
    async () => parts.pgbouncer?.stop(),
    async () => parts.redis?.stop(),
    async () => parts.postgres?.destroy(),
    async () => parts.mail?.close(),
  ];
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (parts.directory) rmSync(parts.directory, { recursive: true, force: true });
  parts.removeExitHook?.();
  if (failures.length > 0) {
    throw new AggregateError(failures, "the topology did not stop cleanly");
  }
}

function kitProcess(
  kind: "api" | "worker",
  number: number,
  env: Record<string, string>,
  port: number | undefined,
  where: { directory: string; logDirectory: string },
): KitProcess {
  const name = `${kind}-${number}`;
  const [command, ...args] = kind === "api" ? API_COMMAND : WORKER_COMMAND;
  const program = new ManagedProcess({
    name,
    command: command === "node" ? process.execPath : command,
    // Flags as they are; the script, relative to the image's /app, from the checkout.
    args: args.map((arg) => (arg.startsWith("-") ? arg : join(root, arg))),
    env,
    // Not the checkout: a developer's .env there must not fill in the topology's configuration.
    cwd: where.directory,
    logFile: join(where.logDirectory, `${name}.log`),
    stopSignal: "SIGTERM",
    stopTimeoutMs: STOP_GRACE_MS,
  });
  const ready =
    kind === "api"
      ? () => apiReady(program, port as number)
      : () =>
          program
            .waitForLine("worker started", (line) => messageOf(line) === "worker started", 60_000)
            .then(() => undefined);
  return {
    name,
    kind,
    port,
    process: program,
    start: async (extra = {}) => {
      program.start(extra);
      await ready();
    },
    stop: (signal) => program.stop(signal),
  };
}

function messageOf(line: string): string | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    return (JSON.parse(line) as { msg?: string }).msg;
  } catch {
    return undefined;
  }
}

/** Live first (the compose file's healthcheck path), then ready (Caddy's health_uri). */
async function apiReady(program: ManagedProcess, port: number): Promise<void> {
  for (const path of [LIVENESS_PATH, READINESS_PATH]) {
    await waitUntil(
      `${program.name} answering 200 on ${path}`,
      async () => {
        const response = await fetch(`http://127.0.0.1:${port}${path}`, {
          signal: AbortSignal.timeout(2_000),
        });
        await response.arrayBuffer();
        return response.ok ? true : undefined;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 200,
        abort: () => (program.running ? undefined : program.failure(`${program.name} exited`)),
      },
    );
  }
}

async function throughCaddyReady(url: string, caddy: Service): Promise<void> {
  await waitUntil(
    `Caddy answering 200 on ${READINESS_PATH}`,
    async () => {
      const response = await fetch(`${url}${READINESS_PATH}`, {
        signal: AbortSignal.timeout(12_000),
      });
      await response.arrayBuffer();
      return response.ok ? true : undefined;
    },
    {
      timeoutMs: 30_000,
      intervalMs: 200,
      abort: () => (caddy.process.running ? undefined : caddy.process.failure("caddy exited")),
    },
  );
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: "kit-topology" });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/**
 * Runs deploy/postgres-init/10-kit-logins.sh itself, as the PostgreSQL image would on its first
 * start (over the local socket, as the superuser), so the topology's logins are the deploy's.
 */
async function makeLogins(
  postgres: PrivatePostgres,
  secrets: { tenantPassword: string; systemPassword: string },
  path: string,
): Promise<void> {
  const script = join(root, "deploy/postgres-init/10-kit-logins.sh");
  try {
    await run("sh", [script], {
      env: {
        PATH: path,
        POSTGRES_USER: "postgres",
        POSTGRES_DB: DATABASE_NAME,
        PGHOST: postgres.socketDirectory,
        PGPORT: String(postgres.port),
        KIT_TENANT_DB_PASSWORD: secrets.tenantPassword,
        KIT_SYSTEM_DB_PASSWORD: secrets.systemPassword,
      },
    });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`${script} failed: ${stderr || (error as Error).message}`);
  }
}

/** The logins' SCRAM secrets, for PgBouncer's auth_file. */
async function scramSecrets(
  ownerUrl: string,
  logins: readonly string[],
): Promise<{ name: string; scramSecret: string }[]> {
  const { rows } = await withClient(ownerUrl, (client) =>
    client.query<{ name: string; secret: string | null }>(
      "select rolname as name, rolpassword as secret from pg_authid where rolname = any($1)",
      [logins],
    ),
  );
  return logins.map((name) => {
    const secret = rows.find((row) => row.name === name)?.secret;
    if (!secret?.startsWith("SCRAM-SHA-256$")) {
      throw new Error(`the login ${name} has no SCRAM-SHA-256 password`);
    }
    return { name, scramSecret: secret };
  });
}

/** Runs a one-off command of the image (the migrations) and fails with its output. */
async function runToCompletion(
  name: string,
  commandLine: readonly string[],
  env: Record<string, string>,
  directory: string,
  logDirectory: string,
): Promise<void> {
  const [command, ...args] = commandLine;
  const program = new ManagedProcess({
    name,
    command: command === "node" ? process.execPath : (command as string),
    // Flags as they are; the script, relative to the image's /app, from the checkout.
    args: args.map((arg) => (arg.startsWith("-") ? arg : join(root, arg))),
    env,
    cwd: directory,
    logFile: join(logDirectory, `${name}.log`),
  });
  program.start();
  const exit = await program.exited;
  if (exit.code !== 0) throw program.failure(`${name} failed`);
}

/**
 * Caddy, PgBouncer, Redis and PostgreSQL from Debian's packages: installed with apt-get when
 * missing and the topology runs as root, else a message saying what to install.
 */
async function ensurePrograms(path: string, log: (message: string) => void): Promise<void> {
  const onPath = (program: string) =>
    path.split(":").some((directory) => directory && existsSync(join(directory, program)));
  const missing: string[] = REQUIRED_PROGRAMS.filter(({ program }) => !onPath(program)).map(
    ({ debianPackage }) => debianPackage,
  );
  if (!postgresBinaries()) missing.push("postgresql");
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `The topology needs ${missing.join(", ")}. Install them as root: apt-get update && apt-get install -y ${missing.join(" ")}`,
    );
  }
  log(`installing ${missing.join(", ")} with apt-get`);
  await run("sh", [
    "-c",
    `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(" ")}`,
  ]);
}

/** The inputs of `npm run build`; dist/ is stale when one of them is newer than its output. */
const BUILD_INPUTS = ["src", "scripts", "package.json", "tsconfig.json", "tsconfig.build.json"];
const BUILD_OUTPUTS = [API_COMMAND, WORKER_COMMAND, MIGRATE_COMMAND].map(
  (command) => command.at(-1) as string,
);

async function ensureBuilt(log: (message: string) => void): Promise<void> {
  const outputs = BUILD_OUTPUTS.map((file) => join(root, file));
  const built = outputs.every(existsSync)
    ? Math.min(...outputs.map((file) => statSync(file).mtimeMs))
    : 0;
  const newest = Math.max(...BUILD_INPUTS.map((input) => newestChange(join(root, input))));
  if (built > newest) return;
  log(built === 0 ? "building the kit (no dist/)" : "building the kit (dist/ is older than src/)");
  try {
    await run("npm", ["run", "build"], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm run build failed:\n${stdout}${stderr}`);
  }
}

function newestChange(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(
    stat.mtimeMs,
    ...readdirSync(path).map((entry) => newestChange(join(path, entry))),
  );
}
