import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./ports.js";

const run = promisify(execFile);

/**
 * A PostgreSQL cluster of its own, on 127.0.0.1 and a free port, that its user may stop,
 * restart and kill without disturbing any other server: the topology's database, and the one a
 * test restarts under a running API. Built with the machine's PostgreSQL binaries (Debian's
 * postgresql package, or PG_BIN); as root it runs them as the postgres user, since PostgreSQL
 * refuses to run as root.
 */
export interface PrivatePostgres {
  /** The superuser's URL (to the postgres database). */
  readonly url: string;
  readonly port: number;
  /** Where the server's Unix socket is (local connections are trusted). */
  readonly socketDirectory: string;
  /** The postmaster's process id while it runs. */
  pid(): number | undefined;
  /** Restarts the server: "fast" ends sessions politely, "immediate" like a crash. */
  restart(mode: "fast" | "immediate"): Promise<void>;
  stop(mode?: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes its files. */
  destroy(): Promise<void>;
  /** The same, synchronously, for an exit hook. */
  destroyNow(): void;
}

export interface PrivatePostgresOptions {
  /**
   * Gives the superuser this password and makes every TCP connection authenticate with
   * SCRAM-SHA-256, as a server reached over a network does; without it TCP connections from
   * the loopback are trusted.
   */
  readonly superuserPassword?: string;
  /** max_connections; 60 unless given. */
  readonly maxConnections?: number;
}

export function postgresBinaries(): string | undefined {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  const found = versions
    .map((version) => join(root, version, "bin"))
    .find((bin) => existsSync(join(bin, "pg_ctl")));
  return found;
}

export async function startPrivatePostgres(
  options: PrivatePostgresOptions = {},
): Promise<PrivatePostgres> {
  const bin = postgresBinaries();
  if (!bin) throw new Error("PostgreSQL binaries not found: install postgresql or set PG_BIN");
  const asRoot = process.getuid?.() === 0;
  const directory = mkdtempSync(join(tmpdir(), "kit-pg-"));
  const data = join(directory, "data");
  const command = (tool: string, args: string[]): [string, string[]] =>
    asRoot
      ? ["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]]
      : [join(bin, tool), args];
  const pgRun = (tool: string, args: string[]) => run(...command(tool, args));
  const ctlArgs = ["-D", data, "-w", "-t", "30", "-l", join(directory, "log")];
  const destroyNow = () => {
    try {
      execFileSync(...command("pg_ctl", [...ctlArgs, "-m", "immediate", "stop"]), {
        stdio: "ignore",
      });
    } catch {
      // Not running.
    }
    rmSync(directory, { recursive: true, force: true });
  };

  try {
    if (asRoot) await run("chown", ["postgres:postgres", directory]);
    const port = await freePort();
    await pgRun("initdb", [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--no-sync",
    ]);
    const serverOptions = [
      `-p ${port}`,
      `-k ${directory}`,
      "-c listen_addresses=127.0.0.1",
      "-c fsync=off",
      `-c max_connections=${options.maxConnections ?? 60}`,
    ].join(" ");
    const ctl = (args: string[]) => pgRun("pg_ctl", [...ctlArgs, ...args]);
    const start = async () => {
      await ctl(["-o", serverOptions, "start"]);
    };
    await start();

    let url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    if (options.superuserPassword !== undefined) {
      await requirePasswords(directory, port, options.superuserPassword, (hba) =>
        writeFileSync(join(data, "pg_hba.conf"), hba),
      );
      await ctl(["reload"]);
      url = `postgres://postgres:${encodeURIComponent(options.superuserPassword)}@127.0.0.1:${port}/postgres`;
    }

    const pid = () => {
      const file = join(data, "postmaster.pid");
      if (!existsSync(file)) return undefined;
      const found = Number(readFileSync(file, "utf8").split("\n")[0]);
      return Number.isInteger(found) && found > 0 ? found : undefined;
    };
    // pg_ctl returns once the postmaster has removed its pid file, a moment before it exits.
    const stop = async (mode: "fast" | "immediate") => {
      const postmaster = pid();
      await ctl(["-m", mode, "stop"]);
      if (postmaster) await gone(postmaster);
    };
    return {
      url,
      port,
      socketDirectory: directory,
      pid,
      restart: async (mode) => {
        await ctl(["-m", mode, "-o", serverOptions, "restart"]);
      },
      stop: (mode = "fast") => stop(mode),
      start,
      destroy: async () => {
        await stop("immediate").catch(() => {});
        rmSync(directory, { recursive: true, force: true });
      },
      destroyNow,
    };
  } catch (error) {
    destroyNow();
    throw error;
  }
}

/**
 * Sets the superuser's password (over the trusted Unix socket) and requires SCRAM-SHA-256 on
 * every TCP connection from then on; the socket stays trusted, for the server's own user.
 */
async function requirePasswords(
  socketDirectory: string,
  port: number,
  password: string,
  writeHba: (text: string) => void,
): Promise<void> {
  const client = new pg.Client({
    host: socketDirectory,
    port,
    user: "postgres",
    database: "postgres",
  });
  await client.connect();
  try {
    await client.query(`ALTER ROLE postgres PASSWORD ${client.escapeLiteral(password)}`);
  } finally {
    await client.end();
  }
  writeHba(
    [
      "# Written by the topology: the socket is trusted, TCP needs a password.",
      "local all all trust",
      "host all all 127.0.0.1/32 scram-sha-256",
      "",
    ].join("\n"),
  );
}

/** Resolves once no process has the id `pid` (at most 10 s). */
async function gone(pid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(20);
  }
}
