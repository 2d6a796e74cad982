import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { TEST_DATABASE_URL, TEST_REDIS_URL } from "../helpers/app.js";

/**
 * Graceful shutdown over a real socket: a child process runs startServer() from src/server.ts
 * (test/fixtures/slow-server.ts, with a GET /api/v1/slow?ms=N route) and receives SIGTERM while
 * a request is in flight.
 */

const root = fileURLToPath(new URL("../../", import.meta.url));
const fixture = fileURLToPath(new URL("../fixtures/slow-server.ts", import.meta.url));

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** performance.now() when the process exited. */
  at: number;
}

interface ServerProcess {
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

/** Spawns the fixture on a free port of 127.0.0.1 and resolves once it listens. */
async function startServer(env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", fixture], {
    cwd: root,
    // A clean environment: only the test database, nothing else leaks in from the shell.
    env: {
      PATH: process.env.PATH ?? "",
      PORT: "0",
      DATABASE_URL: TEST_DATABASE_URL,
      // Its own Redis keys, so no other test's rate-limit counters reach this server.
      REDIS_KEY_PREFIX: `test:${randomUUID()}:`,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
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

  const port = await new Promise<number>((resolve, reject) => {
    const deadline = setTimeout(() => {
      clearInterval(poll);
      reject(
        new Error(`the server did not listen within 45 s\nstdout:\n${stdout}\nstderr:\n${stderr}`),
      );
    }, 45_000);
    const poll = setInterval(() => {
      const match = /^\{"listening":(\d+)\}$/m.exec(stdout);
      if (match) {
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

type Outcome =
  | { ok: true; status: number; headers: http.IncomingHttpHeaders; body: unknown }
  | { ok: false; code: string };

/** GET over node:http; never rejects, so a refused or cut connection is an outcome to assert. */
function get(port: number, path: string, agent: http.Agent | false): Promise<Outcome> {
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

describe("graceful shutdown (SIGTERM)", { timeout: 90_000 }, () => {
  it("finishes the in-flight request, refuses new connections, closes and exits 0", async () => {
    const server = await startServer({ SHUTDOWN_TIMEOUT_MS: "5000" });
    // A keep-alive client, like a load balancer or a browser: its connection outlives the request.
    const agent = new http.Agent({ keepAlive: true });
    try {
      const inFlight = get(server.port, "/api/v1/slow?ms=1500", agent);
      await sleep(200);
      const signalledAt = performance.now();
      server.child.kill("SIGTERM");

      await sleep(300);
      const late = await get(server.port, "/api/v1/slow?ms=0", false);
      if (late.ok) expect(late.status).toBe(503);
      else expect(late.code).toBe("ECONNREFUSED");

      const answer = await inFlight;
      expect(answer).toMatchObject({ ok: true, status: 200, body: { done: true } });

      const exit = await server.exited;
      expect(
        { code: exit.code, signal: exit.signal },
        `the process should exit 0 by itself; stderr:\n${server.stderr()}`,
      ).toEqual({ code: 0, signal: null });
      expect(exit.at - signalledAt).toBeLessThan(5_000);
      expect(server.messages()).toContain("shutting down");
      expect(server.messages()).toContain("shutdown complete");
      expect(server.messages().indexOf("shutdown complete")).toBeGreaterThan(
        server.messages().indexOf("shutting down"),
      );
    } finally {
      agent.destroy();
    }
  });

  it("drains under load: readiness turns 503 first, and no request on a kept-alive connection fails", async () => {
    const server = await startServer({ SHUTDOWN_TIMEOUT_MS: "5000", SHUTDOWN_DRAIN_MS: "1500" });
    // Clients like a load balancer's upstream pool: eight kept-alive connections in constant use.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const outcomes: Outcome[] = [];
    let routedAway = false;
    let readyAfterSignal: number | undefined;
    let signalled = false;
    // The balancer's health check: once readiness answers 503 it routes new requests elsewhere
    // (here: sends none), a moment later, as a real balancer's check interval would.
    const healthCheck = (async () => {
      while (!routedAway) {
        const ready = await get(server.port, "/health/ready", false);
        if (signalled && ready.ok && ready.status === 503) {
          readyAfterSignal = ready.status;
          await sleep(200);
          routedAway = true;
        }
        if (!ready.ok && signalled) routedAway = true;
        await sleep(50);
      }
    })();
    const client = async () => {
      while (!routedAway) outcomes.push(await get(server.port, "/api/v1/slow?ms=5", agent));
    };
    try {
      const load = Promise.all(Array.from({ length: 8 }, client));
      await sleep(500);
      server.child.kill("SIGTERM");
      signalled = true;
      await Promise.all([load, healthCheck]);
      const exit = await server.exited;
      expect(exit.code, server.stderr()).toBe(0);

      // Readiness said 503 while the listener still answered: the balancer could stop in time.
      expect(readyAfterSignal).toBe(503);
      const failures = outcomes.filter((outcome) => !outcome.ok);
      expect(failures).toEqual([]);
      const statuses = new Set(outcomes.map((outcome) => (outcome.ok ? outcome.status : 0)));
      expect([...statuses]).toEqual([200]);
      expect(outcomes.length).toBeGreaterThan(50);
      // While draining, every answer asks the client to close its connection.
      const last = outcomes.at(-1);
      expect(last?.ok && last.headers.connection).toBe("close");
      expect(server.messages()).toContain("draining: readiness answers 503");
    } finally {
      routedAway = true;
      agent.destroy();
    }
  });

  it("closes idle keep-alive connections, the database pool and Redis, and exits 0", async () => {
    const server = await startServer({
      SHUTDOWN_TIMEOUT_MS: "5000",
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
    });
    const agent = new http.Agent({ keepAlive: true });
    try {
      // The readiness check opens a PostgreSQL and a Redis connection; the client's socket then
      // sits idle in its keep-alive pool.
      const ready = await get(server.port, "/health/ready", agent);
      expect(ready, server.stdout()).toMatchObject({ ok: true, status: 200 });

      const signalledAt = performance.now();
      server.child.kill("SIGTERM");
      const exit = await server.exited;
      expect(
        { code: exit.code, signal: exit.signal },
        `the process should exit 0 by itself; stderr:\n${server.stderr()}`,
      ).toEqual({ code: 0, signal: null });
      expect(exit.at - signalledAt).toBeLessThan(2_000);
      expect(server.messages()).toContain("shutdown complete");
    } finally {
      agent.destroy();
    }
  });

  it("is bounded: past SHUTDOWN_TIMEOUT_MS it gives up on the request and exits non-zero", async () => {
    const server = await startServer({ SHUTDOWN_TIMEOUT_MS: "500" });
    const inFlight = get(server.port, "/api/v1/slow?ms=5000", false);
    await sleep(200);
    const signalledAt = performance.now();
    server.child.kill("SIGTERM");

    const exit = await server.exited;
    const elapsed = exit.at - signalledAt;
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(3_000);
    expect(server.stderr()).toContain("killed by timeout (500ms)");
    expect(server.messages()).toContain("shutting down");
    expect(server.messages()).not.toContain("shutdown complete");

    // The request that outlived the timeout is cut, not answered.
    const answer = await inFlight;
    expect(answer.ok).toBe(false);
  });
});
