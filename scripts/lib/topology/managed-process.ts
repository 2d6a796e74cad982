import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync } from "node:fs";

export interface ProcessSpec {
  /** Short name for messages and the log file: api-1, worker-2, redis. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** The whole environment: nothing of the parent's leaks in unless listed here. */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** stdout and stderr are appended here. */
  readonly logFile: string;
  /** Run as this user (the topology runs PgBouncer as postgres when started as root). */
  readonly uid?: number;
  readonly gid?: number;
  /** The signal that asks the program to stop cleanly; SIGTERM unless given. */
  readonly stopSignal?: NodeJS.Signals;
  /** How long a clean stop may take before the process is killed; 10 s unless given. */
  readonly stopTimeoutMs?: number;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Lines kept in memory per run, for waiting on a log line and for error messages. */
const KEPT_LINES = 400;

const live = new Set<ManagedProcess>();
const exitHooks = new Set<() => void>();

/**
 * Last resort when the process that started the topology exits without stopping it (an
 * uncaught error, process.exit): every child still running is killed and every registered
 * synchronous clean-up runs, so nothing is left behind.
 */
process.on("exit", () => {
  for (const child of live) child.killNow();
  for (const hook of exitHooks) {
    try {
      hook();
    } catch {
      // Best effort while exiting.
    }
  }
});

/** Registers a synchronous clean-up for an unplanned exit; returns its removal. */
export function onUnplannedExit(hook: () => void): () => void {
  exitHooks.add(hook);
  return () => exitHooks.delete(hook);
}

/**
 * A long-running program of the topology (an API, a worker, Redis, PgBouncer, Caddy) that can
 * be started, signalled, stopped and started again with the same command. Each runs in a
 * process group of its own, so a Ctrl-C in the terminal reaches the topology only, which then
 * stops the programs in order.
 */
export class ManagedProcess {
  readonly name: string;
  #spec: ProcessSpec;
  #child: ChildProcess | undefined;
  #exit: Exit | undefined;
  #exited: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  #lines: string[] = [];
  #partial = "";
  #listeners = new Set<(line: string) => void>();

  constructor(spec: ProcessSpec) {
    this.name = spec.name;
    this.#spec = spec;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#exit === undefined;
  }

  /** How the last run ended; undefined while it runs (or before the first). */
  get exit(): Exit | undefined {
    return this.#exit;
  }

  /** Resolves when the current run ends. */
  get exited(): Promise<Exit> {
    return this.#exited;
  }

  /** Where the program's output goes. */
  get logFile(): string {
    return this.#spec.logFile;
  }

  /** The environment of the next run. */
  get env(): Readonly<Record<string, string>> {
    return this.#spec.env;
  }

  /** Starts a run; `env` replaces variables for it and the runs after it. */
  start(env: Readonly<Record<string, string>> = {}): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.#spec = { ...this.#spec, env: { ...this.#spec.env, ...env } };
    const spec = this.#spec;
    appendFileSync(spec.logFile, `--- ${new Date().toISOString()} ${spec.name} starting\n`);
    this.#lines = [];
    this.#partial = "";
    this.#exit = undefined;
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      ...(spec.uid === undefined ? {} : { uid: spec.uid }),
      ...(spec.gid === undefined ? {} : { gid: spec.gid }),
    });
    this.#child = child;
    live.add(this);
    this.#exited = new Promise<Exit>((resolve) => {
      const finish = (exit: Exit) => {
        if (this.#child !== child || this.#exit) return;
        this.#exit = exit;
        live.delete(this);
        this.#flush();
        appendFileSync(
          spec.logFile,
          `--- ${new Date().toISOString()} ${spec.name} exited (${exit.code ?? exit.signal})\n`,
        );
        resolve(exit);
      };
      child.once("exit", (code, signal) => finish({ code, signal }));
      // A command that cannot be spawned (not installed) emits error and no exit.
      child.once("error", (error) => {
        this.#record(`${spec.name}: ${error.message}\n`);
        finish({ code: null, signal: null });
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding("utf8").on("data", (chunk: string) => this.#record(chunk));
    }
  }

  /**
   * Asks the program to stop with `signal` (its clean stop signal unless given), waits up to
   * `timeoutMs`, then kills it. Resolves with how it ended; at once if it is not running.
   */
  async stop(
    signal: NodeJS.Signals = this.#spec.stopSignal ?? "SIGTERM",
    timeoutMs = this.#spec.stopTimeoutMs ?? 10_000,
  ): Promise<Exit | undefined> {
    if (!this.running) return this.#exit;
    this.signal(signal);
    const timer = setTimeout(() => this.killNow(), timeoutMs);
    try {
      return await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` to the program (a fault: SIGKILL a worker, SIGTERM an API). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.#child?.kill(signal);
  }

  /** SIGKILL to the program's whole process group, at once and synchronously. */
  killNow(): void {
    const pid = this.#child?.pid;
    if (!this.running || pid === undefined) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      this.#child?.kill("SIGKILL");
    }
  }

  /** The last lines the current (or last) run wrote. */
  output(lines = 40): string {
    const tail = this.#partial ? [...this.#lines, this.#partial] : this.#lines;
    return tail.slice(-lines).join("\n");
  }

  /**
   * Resolves with the first line of the current run (written before or after the call) that
   * `match` accepts; rejects if the run ends first or after `timeoutMs`.
   */
  waitForLine(what: string, match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const seen = this.#lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
      };
      const listener = (line: string) => {
        if (!match(line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(this.failure(`${what} did not happen within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.#listeners.add(listener);
      void this.#exited.then(() => {
        if (!this.#listeners.has(listener)) return;
        done();
        reject(this.failure(`${this.name} exited before ${what}`));
      });
    });
  }

  /** An error naming this program, how it ended if it did, and the end of its output. */
  failure(message: string): Error {
    const ended = this.#exit ? ` (exit ${this.#exit.code ?? this.#exit.signal})` : "";
    return new Error(
      `${message}${ended}; the end of its output (${this.#spec.logFile}):\n${this.output()}`,
    );
  }

  #record(chunk: string): void {
    appendFileSync(this.#spec.logFile, chunk);
    const text = this.#partial + chunk;
    const lines = text.split("\n");
    this.#partial = lines.pop() ?? "";
    for (const line of lines) this.#line(line);
  }

  #flush(): void {
    if (this.#partial) this.#line(this.#partial);
    this.#partial = "";
  }

  #line(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > KEPT_LINES) this.#lines.shift();
    for (const listener of this.#listeners) listener(line);
  }
}
