/**
 * Small helpers the benchmark scripts share: the PostgreSQL and Redis servers they use, names,
 * the kit's extra environment, the lock that keeps two runs apart, and what a run measured.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname } from "node:path";
import pg from "pg";

/** The local PostgreSQL server, as a superuser (the owner of every bench database). */
export const BENCH_SERVER_URL =
  process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/**
 * The logins the kit connects as in the benchmark, as in production: the tenant pool's may
 * assume app_tenant only (granted app_tenant_login), the system pool's app_system (granted
 * app_system_login); neither holds table privileges of its own.
 */
export const BENCH_LOGIN_ROLE = "kit_bench_app";
export const BENCH_SYSTEM_LOGIN_ROLE = "kit_bench_system";

/** The URL of `database` on the bench server, as `user` (default: the server URL's user). */
export function databaseUrl(database: string, user?: string): string {
  const url = new URL(BENCH_SERVER_URL);
  url.pathname = `/${database}`;
  if (user !== undefined) {
    url.username = user;
    url.password = "";
  }
  return url.toString();
}

export const benchDatabaseName = (tenants: number) => `kit_bench_${tenants}`;

/** The kit's DATABASE_POOL_SIZE default, which the kit servers and the baseline run with. */
export const POOL_SIZE = 10;

/**
 * Rate limits stay on (their cost is part of the path) but far above what the load generator
 * sends from its one IP: the benchmarks measure serving, not refusing.
 */
export const KIT_BENCH_ENV = {
  RATE_LIMIT_IP: "1000000000",
  RATE_LIMIT_FREE: "1000000000",
  RATE_LIMIT_PRO: "1000000000",
  RATE_LIMIT_ENTERPRISE: "1000000000",
};

/** The local Redis, for the kit servers run with Redis behind the cache and the rate limiters. */
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

/**
 * The kit's Redis environment for one server process: the bench Redis and a key prefix of its
 * own, `bench:<name>:<uuid>:` (the kit takes up to 64 characters: names up to 20).
 */
export function redisKitEnv(name: string): { REDIS_URL: string; REDIS_KEY_PREFIX: string } {
  return { REDIS_URL: BENCH_REDIS_URL, REDIS_KEY_PREFIX: `bench:${name}:${randomUUID()}:` };
}

/** Extra environment for the kit from repeated `--kit-env NAME=value` values. */
export function kitEnvOf(pairs: readonly string[] | undefined): Record<string, string> {
  return Object.fromEntries(
    (pairs ?? []).map((pair) => {
      const at = pair.indexOf("=");
      if (at < 1) throw new Error(`--kit-env wants NAME=value, not "${pair}"`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

/** A positive integer command-line value, or the fallback when absent. */
export function positiveInteger(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) {
    throw new Error(`--${name} must be a positive integer, not "${value}"`);
  }
  return parsed;
}

/** A command-line number of seconds that may be 0 (turns the step off), or the fallback. */
export function nonNegativeSeconds(
  value: string | undefined,
  name: string,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) {
    throw new Error(`--${name} must be a number of seconds, 0 or more, not "${value}"`);
  }
  return parsed;
}

/**
 * Takes the benchmarks' advisory lock on the bench server, held until the returned client
 * disconnects. Two runs at once on one PostgreSQL would share the kit_bench_* databases (one
 * deletes the items the other posted, or reseeds under it) and each other's CPU: the second one
 * refuses.
 */
export async function takeBenchLock(): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: BENCH_SERVER_URL,
    application_name: "kit-bench",
  });
  await client.connect();
  const { rows } = await client.query<{ granted: boolean }>(
    "select pg_try_advisory_lock(hashtext('agency-kit:bench')) as granted",
  );
  if (!rows[0]?.granted) {
    await client.end();
    throw new Error(
      "another benchmark run holds the bench lock on this PostgreSQL; wait for it to finish (two runs at once share the kit_bench_* databases)",
    );
  }
  return client;
}

/**
 * The git checkout holding `directory`: its top, its commit and the uncommitted changes under
 * src/ and migrations/ (a run measures the working tree); undefined outside a checkout.
 */
export function gitInfo(
  directory: string,
): { checkout: string; commit: string; uncommittedChanges: string[] } | undefined {
  try {
    const git = (...gitArgs: string[]) =>
      execFileSync("git", ["-C", directory, ...gitArgs], { encoding: "utf8" }).trim();
    const checkout = git("rev-parse", "--show-toplevel");
    const changed = execFileSync("git", ["status", "--porcelain", "--", "src", "migrations"], {
      cwd: checkout,
      encoding: "utf8",
    })
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line.length > 0);
    return { checkout, commit: git("rev-parse", "HEAD"), uncommittedChanges: changed };
  } catch {
    return undefined;
  }
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

/** The model of the machine's processors, as /proc/cpuinfo names it (os.cpus() elsewhere). */
function cpuModel(): string {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((entry) => entry.startsWith("model name"));
    return line?.split(":")[1]?.trim() ?? os.cpus()[0]?.model ?? "unknown";
  } catch {
    return os.cpus()[0]?.model ?? "unknown";
  }
}

/** The machine a results file was measured on; each benchmark adds what it needs beside it. */
export function machineInfo(): {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
} {
  return {
    nproc: os.availableParallelism(),
    cpuModel: cpuModel(),
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/** Writes a results file, pretty-printed, creating its folder. */
export function writeJson(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
