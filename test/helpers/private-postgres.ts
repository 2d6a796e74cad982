import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * A PostgreSQL cluster of a test's own, on 127.0.0.1 and a free port, that the test may stop,
 * restart and kill without disturbing the shared server other test files use. Built with the
 * machine's PostgreSQL binaries (Debian's postgresql package, or PG_BIN); as root it runs them as
 * the postgres user, since PostgreSQL refuses to run as root.
 */
export interface PrivatePostgres {
  /** A superuser URL (trust authentication, loopback only). */
  readonly url: string;
  readonly port: number;
  /** Restarts the server: "fast" ends sessions politely, "immediate" like a crash. */
  restart(mode: "fast" | "immediate"): Promise<void>;
  stop(mode?: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes its files. */
  destroy(): Promise<void>;
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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBinaries();
  if (!bin) throw new Error("PostgreSQL binaries not found: install postgresql or set PG_BIN");
  const asRoot = process.getuid?.() === 0;
  const directory = mkdtempSync(join(tmpdir(), "kit-pg-"));
  const data = join(directory, "data");
  if (asRoot) await run("chown", ["postgres:postgres", directory]);
  const pgRun = (tool: string, args: string[]) =>
    asRoot
      ? run("runuser", ["-u", "postgres", "--", join(bin, tool), ...args])
      : run(join(bin, tool), args);
  const port = await freePort();

  await pgRun("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const options = `-p ${port} -k ${directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`;
  const ctl = (args: string[]) =>
    pgRun("pg_ctl", ["-D", data, "-w", "-t", "30", "-l", join(directory, "log"), ...args]);
  const start = async () => {
    await ctl(["-o", options, "start"]);
  };
  await start();

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    restart: async (mode) => {
      await ctl(["-m", mode, "-o", options, "restart"]);
    },
    stop: async (mode = "fast") => {
      await ctl(["-m", mode, "stop"]);
    },
    start,
    destroy: async () => {
      await ctl(["-m", "immediate", "stop"]).catch(() => {});
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
