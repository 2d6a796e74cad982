import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { afterEach } from "vitest";
import { isolatedRedisKeyPrefix, TEST_DATABASE_URL } from "./app.js";

/**
 * The API as a real process: test/fixtures/slow-server.ts runs startServer() from src/server.ts
 * (with a GET /api/v1/slow?ms=N route, and the kit's modules with FIXTURE_MODULES=all), so a test
 * can signal it, watch it exit, and talk to it over real sockets; or, with `entry: "main"`,
 * src/main.ts itself, configured by the environment alone as `npm run dev` and `npm start` are.
 * Every process a test starts is killed after that test.
 */

const root = fileURLToPath(new URL("../../", import.meta.url));
const entries = {
  fixture: fileURLToPath(new URL("../fixtures/slow-server.ts", import.meta.url)),
  main: fileURLToPath(new URL("../../src/main.ts", import.meta.url)),
};

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** performance.now() when the process exited. */
  at: number;
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  exited: Promise<Exit>;
  stdout(): string;
  stderr(): string;
  /** The `msg` of every JSON log line the server wrote, in order. */
  messages(): string[];
}

const running = new Set<ChildProcess>();

afterEach(() => {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  running.clear();
});

/**
 * Spawns the fixture (or src/main.ts) on a free port of 127.0.0.1 and resolves once it listens
 * and has logged so. With `entry: "main"`, give LOG_PRETTY=false: the port is read from the
 * JSON line "Server listening at ...".
 */
export async function startServer(
  env: Record<string, string> = {},
  options: {
    nodeFlags?: readonly string[];
    entry?: keyof typeof entries;
    /** How long it may take to listen (45 s). */
    listenWithinMs?: number;
  } = {},
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [...(options.nodeFlags ?? []), "--import", "tsx", entries[options.entry ?? "fixture"]],
    {
      cwd: root,
      // A clean environment: only the test database, nothing else leaks in from the shell.
      env: {
        PATH: process.env.PATH ?? "",
        PORT: "0",
        DATABASE_URL: TEST_DATABASE_URL,
        REDIS_KEY_PREFIX: isolatedRedisKeyPrefix(),
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  running.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal, at: performance.now() }));
  });

  const listenWithinMs = options.listenWithinMs ?? 45_000;
  const port = await new Promise<number>((resolve, reject) => {
    const deadline = setTimeout(() => {
      clearInterval(poll);
      reject(
        new Error(
          `the server did not listen within ${listenWithinMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`,
        ),
      );
    }, listenWithinMs);
    const poll = setInterval(() => {
      const match =
        options.entry === "main"
          ? /"msg":"Server listening at http:\/\/127\.0\.0\.1:(\d+)"/.exec(stdout)
          : /^\{"listening":(\d+)\}$/m.exec(stdout);
      // The logger writes asynchronously: wait for its listening line too, so every line the
      // server logged while starting is in stdout() when this resolves.
      if (match && stdout.includes('"msg":"Server listening at ')) {
        clearInterval(poll);
        clearTimeout(deadline);
        resolve(Number(match[1]));
      }
    }, 20);
    void exited.then((exit) => {
      clearInterval(poll);
      clearTimeout(deadline);
      reject(
        new Error(`the server exited (${exit.code ?? exit.signal}) before listening\n${stderr}`),
      );
    });
  });

  return {
    child,
    port,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    messages: () =>
      stdout
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => (JSON.parse(line) as { msg?: string }).msg)
        .filter((msg): msg is string => typeof msg === "string"),
  };
}

export type Outcome =
  | { ok: true; status: number; headers: http.IncomingHttpHeaders; body: unknown }
  | { ok: false; code: string };

/** GET over node:http; never rejects, so a refused or cut connection is an outcome to assert. */
export function get(port: number, path: string, agent: http.Agent | false): Promise<Outcome> {
  return new Promise((resolve) => {
    const request = http.get({ host: "127.0.0.1", port, path, agent }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        text += chunk;
      });
      response.on("end", () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {}
        resolve({ ok: true, status: response.statusCode ?? 0, headers: response.headers, body });
      });
      response.on("error", (error: NodeJS.ErrnoException) =>
        resolve({ ok: false, code: error.code ?? error.message }),
      );
    });
    request.on("error", (error: NodeJS.ErrnoException) =>
      resolve({ ok: false, code: error.code ?? error.message }),
    );
  });
}
