/**
 * The servers under test, each a child process bound to 127.0.0.1, with its output in a log
 * file, and a way to stop them all (also on error and Ctrl-C).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly baseUrl: string;
  readonly logFile: string;
  stop(): Promise<void>;
}

const running = new Set<ServerProcess>();

export interface SpawnOptions {
  name: string;
  port: number;
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  logDir: string;
  /** Path answering 200 once the server can serve (default /health/ready). */
  readyPath?: string;
  readyTimeoutMs?: number;
}

/** Starts a server and resolves once its readiness path answers 200. */
export async function startServer(options: SpawnOptions): Promise<ServerProcess> {
  const logFile = join(options.logDir, `${options.name}.log`);
  const fd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });

  const server: ServerProcess = {
    name: options.name,
    pid: child.pid ?? -1,
    baseUrl: `http://127.0.0.1:${options.port}`,
    logFile,
    async stop() {
      running.delete(server);
      if (exited) return;
      child.kill("SIGTERM");
      const stopped = await Promise.race([exit.then(() => true), sleep(10_000, false)]);
      if (!stopped) {
        child.kill("SIGKILL");
        await exit;
      }
    },
  };
  running.add(server);

  const readyUrl = `${server.baseUrl}${options.readyPath ?? "/health/ready"}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      running.delete(server);
      throw new Error(
        `${options.name} exited before it was ready (code ${exited.code}, signal ${exited.signal}):\n${tail(logFile)}`,
      );
    }
    try {
      const response = await fetch(readyUrl, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return server;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`${options.name} was not ready within the time allowed:\n${tail(logFile)}`);
    }
    await sleep(100);
  }
}

/** Stops every server still running; safe to call more than once. */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...running].map((server) => server.stop()));
}

/**
 * Runs a benchmark's `main`, then `cleanUp` (which should stop the servers): also on SIGINT or
 * SIGTERM, which then exit 130. A failure is printed and sets the exit code to 1.
 */
export async function runBenchmark(
  main: () => Promise<void>,
  cleanUp: () => Promise<void>,
): Promise<void> {
  let interrupted = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      interrupted = true;
      console.error(`\n${signal}: stopping the servers`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  try {
    await main();
  } catch (error) {
    if (!interrupted) {
      console.error(error instanceof Error ? (error.stack ?? error.message) : error);
      process.exitCode = 1;
    }
  } finally {
    await cleanUp();
  }
}

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
