import { execFileSync } from "node:child_process";
import { chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ManagedProcess } from "./managed-process.js";
import { accepts, waitUntil } from "./ports.js";

/**
 * The topology's third-party programs (Redis, PgBouncer, Caddy) as managed processes: each
 * started in the foreground, in a directory of the topology's, with its output in a log file.
 */

export interface Service {
  readonly name: string;
  /** Where it listens on 127.0.0.1. */
  readonly port: number;
  readonly process: ManagedProcess;
  /** Starts it again (same port, same files) and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops it with its clean stop signal, killing it if that takes too long. */
  stop(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
}

/** The programs the topology needs, by Debian package. */
export const REQUIRED_PROGRAMS = [
  { program: "redis-server", debianPackage: "redis-server" },
  { program: "pgbouncer", debianPackage: "pgbouncer" },
  { program: "caddy", debianPackage: "caddy" },
] as const;

/** The user the PostgreSQL side runs as, when the topology is started as root. */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

export function postgresUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }));
  return { uid: id("-u"), gid: id("-g") };
}

function service(
  name: string,
  port: number,
  program: ManagedProcess,
  ready: () => Promise<void>,
): Service {
  const start = async () => {
    program.start();
    await ready();
  };
  const stop = async () => {
    await program.stop();
  };
  return {
    name,
    port,
    process: program,
    start,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
  };
}

const untilAccepting = (program: ManagedProcess, port: number) => async () => {
  await waitUntil(
    `${program.name} accepting connections on ${port}`,
    async () => ((await accepts(port)) ? true : undefined),
    {
      timeoutMs: 20_000,
      abort: () => (program.running ? undefined : program.failure(`${program.name} exited`)),
    },
  );
};

export interface ServiceOptions {
  readonly directory: string;
  readonly logDirectory: string;
  readonly port: number;
  readonly path: string;
}

/**
 * Redis without persistence (a restart empties it: sessions, rate-limit counters and queued
 * jobs are gone, as on a replaced cache node), on the loopback only.
 */
export async function startRedis(options: ServiceOptions): Promise<Service> {
  const directory = join(options.directory, "redis");
  mkdirSync(directory, { recursive: true });
  const program = new ManagedProcess({
    name: "redis",
    command: "redis-server",
    args: [
      "--port",
      String(options.port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      directory,
      // BullMQ needs it, as in deploy/docker-compose.prod.yml: an evicted job key is a lost job.
      "--maxmemory-policy",
      "noeviction",
    ],
    env: { PATH: options.path },
    cwd: directory,
    logFile: join(options.logDirectory, "redis.log"),
  });
  const redis = service("redis", options.port, program, untilAccepting(program, options.port));
  await redis.start();
  return redis;
}

export interface PgBouncerOptions extends ServiceOptions {
  readonly postgresPort: number;
  readonly database: string;
  /** The logins and their SCRAM secrets, as pg_authid holds them. */
  readonly logins: readonly { name: string; scramSecret: string }[];
  /** The login whose server connections are capped low (the system pool's). */
  readonly systemLogin: string;
  readonly runAs: RunAs | undefined;
}

/** Server connections per (database, login) pool, and the system login's cap. */
export const PGBOUNCER_POOLS = { tenant: 8, system: 4 } as const;

/**
 * PgBouncer (1.18 on Debian bookworm) in transaction pooling mode in front of PostgreSQL. Clients authenticate with
 * SCRAM-SHA-256 against the logins' SCRAM secrets (the same secrets PostgreSQL stores, copied
 * from pg_authid, so PgBouncer logs into PostgreSQL with the client's proof and no password
 * rests anywhere in clear text). Prepared statements are not tracked (1.18 cannot; a newer
 * version is told not to): the kit's named statements meet server connections that lack them or
 * hold another client's, and it prepares them again.
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<Service> {
  const directory = join(options.directory, "pgbouncer");
  mkdirSync(directory, { recursive: true });
  const authFile = join(directory, "userlist.txt");
  const quote = (value: string) => `"${value.replaceAll('"', '""')}"`;
  writeFileSync(
    authFile,
    options.logins.map((login) => `${quote(login.name)} ${quote(login.scramSecret)}\n`).join(""),
    { mode: 0o600 },
  );
  const configFile = join(directory, "pgbouncer.ini");
  writeFileSync(
    configFile,
    [
      "[databases]",
      `${options.database} = host=127.0.0.1 port=${options.postgresPort} dbname=${options.database}`,
      "",
      "[users]",
      `${options.systemLogin} = max_user_connections=${PGBOUNCER_POOLS.system}`,
      "",
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${options.port}`,
      // No Unix socket: its default place, /tmp, is shared with every other PgBouncer.
      "unix_socket_dir =",
      "auth_type = scram-sha-256",
      `auth_file = ${authFile}`,
      "pool_mode = transaction",
      `default_pool_size = ${PGBOUNCER_POOLS.tenant}`,
      "reserve_pool_size = 0",
      "max_client_conn = 500",
      `max_db_connections = ${PGBOUNCER_POOLS.tenant + PGBOUNCER_POOLS.system}`,
      // Transaction mode runs no reset query between clients (server_reset_query_always = 0):
      // nothing but the kit's transaction-local settings keeps tenants apart on a connection.
      "server_reset_query_always = 0",
      // Untracked prepared statements on every version, as before 1.21 (which refuses the key).
      ...(tracksPreparedStatements() ? ["max_prepared_statements = 0"] : []),
      // After a failed login to PostgreSQL (a restart), PgBouncer refuses clients until this
      // has passed: the default, 15 s, would stretch a one-second restart into fifteen.
      "server_login_retry = 1",
      "log_connections = 0",
      "log_disconnections = 0",
      "",
    ].join("\n"),
  );
  if (options.runAs) {
    for (const path of [directory, authFile, configFile]) {
      chownSync(path, options.runAs.uid, options.runAs.gid);
    }
  }
  const program = new ManagedProcess({
    name: "pgbouncer",
    command: "pgbouncer",
    args: [configFile],
    env: { PATH: options.path },
    cwd: directory,
    logFile: join(options.logDirectory, "pgbouncer.log"),
    // SIGINT waits for running queries to finish (1.18: SIGTERM would drop them).
    stopSignal: "SIGINT",
    ...(options.runAs ?? {}),
  });
  const pgbouncer = service(
    "pgbouncer",
    options.port,
    program,
    untilAccepting(program, options.port),
  );
  await pgbouncer.start();
  return pgbouncer;
}

/** Whether this PgBouncer has max_prepared_statements (1.21 and later). */
function tracksPreparedStatements(): boolean {
  const version = /PgBouncer (\d+)\.(\d+)/.exec(
    execFileSync("pgbouncer", ["--version"], { encoding: "utf8" }),
  );
  if (!version) throw new Error("pgbouncer --version did not name a version");
  const [major, minor] = [Number(version[1]), Number(version[2])];
  return major > 1 || (major === 1 && minor >= 21);
}

export interface CaddyOptions extends ServiceOptions {
  readonly caddyfile: string;
  /** The compose file's DOMAIN: the Caddyfile's `{$DOMAIN}` (in its problem documents). */
  readonly domain: string;
}

/** Caddy with the given Caddyfile; its data and autosaved config stay in its directory. */
export async function startCaddy(options: CaddyOptions): Promise<Service> {
  const directory = join(options.directory, "caddy");
  mkdirSync(directory, { recursive: true });
  const configFile = join(directory, "Caddyfile");
  writeFileSync(configFile, options.caddyfile);
  const program = new ManagedProcess({
    name: "caddy",
    command: "caddy",
    args: ["run", "--config", configFile, "--adapter", "caddyfile"],
    env: {
      PATH: options.path,
      HOME: directory,
      DOMAIN: options.domain,
      XDG_DATA_HOME: join(directory, "data"),
      XDG_CONFIG_HOME: join(directory, "config"),
    },
    cwd: directory,
    logFile: join(options.logDirectory, "caddy.log"),
  });
  const caddy = service("caddy", options.port, program, untilAccepting(program, options.port));
  await caddy.start();
  return caddy;
}
