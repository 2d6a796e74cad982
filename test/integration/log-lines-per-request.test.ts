/**
 * How many log lines a request costs: one in development (pretty, one line of text), none for a
 * passing health probe below debug, and the failing or slow probe still logged in both
 * REQUEST_LOG modes. Real apps through inject; the lines land in the app's `logStream`.
 */
import { createConnection, createServer, type Server } from "node:net";
import type { FastifyInstance } from "fastify";
import type { DestinationStream } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { TEST_DATABASE_URL, TEST_REDIS_URL, testConfig } from "../helpers/app.js";
import { LogCapture } from "../helpers/log-capture.js";

/** Nothing listens on port 1: connections are refused at once. */
const CLOSED_DATABASE_URL = "postgres://postgres@127.0.0.1:1/postgres";

/** The text a logger writes, split into lines. */
class TextCapture implements DestinationStream {
  text = "";
  write(chunk: string): void {
    this.text += chunk;
  }
  lines(): string[] {
    return this.text.split("\n").filter((line) => line !== "");
  }
  clear(): void {
    this.text = "";
  }
}

const apps: FastifyInstance[] = [];
const proxies: Server[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  for (const proxy of proxies.splice(0)) proxy.close();
});

/**
 * `url` through a TCP proxy on 127.0.0.1 that holds every answer of the server for `delayMs`:
 * a database whose every query takes at least that long.
 */
async function slowedDown(url: string, delayMs: number): Promise<string> {
  const target = new URL(url);
  const { hostname: host, port } = target;
  const proxy = createServer((client) => {
    const server = createConnection({ host, port: Number(port) });
    client.pipe(server);
    server.on("data", (chunk) => {
      setTimeout(() => client.writable && client.write(chunk), delayMs);
    });
    const end = () => {
      client.destroy();
      server.destroy();
    };
    client.on("error", end).on("close", end);
    server.on("error", end).on("close", () => setTimeout(end, delayMs));
  });
  proxies.push(proxy);
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const address = proxy.address();
  if (address === null || typeof address === "string") throw new Error("no proxy port");
  target.port = String(address.port);
  return target.toString();
}

async function build(env: Record<string, string | undefined>, logStream: DestinationStream) {
  // With Redis: without it the development app relays the outbox in-process and logs that too.
  const config = testConfig({ LOG_LEVEL: "info", REDIS_URL: TEST_REDIS_URL, ...env });
  const app = await createApp(config, { logStream });
  apps.push(app);
  return app;
}

/** A development app (pretty logs, the level of development unless `LOG_LEVEL` is given). */
async function development(env: Record<string, string | undefined> = {}) {
  const logs = new TextCapture();
  const app = await build({ ENVIRONMENT: "development", LOG_LEVEL: undefined, ...env }, logs);
  // The start-up notices (no SECRET_KEY, no SMTP_URL) are not a request's.
  logs.clear();
  return { app, logs };
}

/** `[HH:MM:ss.l] LEVEL: METHOD PATH STATUS N ms {"requestId":"..."}` and nothing else. */
const requestLine = (level: string, method: string, path: string, status: number) =>
  new RegExp(
    `^\\[\\d{2}:\\d{2}:\\d{2}\\.\\d{3}\\] ${level}: ${method} ${path} ${status} [\\d.]+ ms \\{"requestId":"[^"]+"\\}$`,
  );

describe("in development (LOG_PRETTY)", () => {
  it("writes one line for a request, with its method, path, status and duration", async () => {
    const { app, logs } = await development();
    expect((await app.inject({ method: "GET", url: "/info" })).statusCode).toBe(200);
    expect(logs.lines()).toEqual([expect.stringMatching(requestLine("INFO", "GET", "/info", 200))]);

    logs.clear();
    const refused = await app.inject({ method: "GET", url: "/api/v1/tenants/current" });
    expect(refused.statusCode).toBe(401);
    expect(logs.lines()).toEqual([
      expect.stringMatching(requestLine("INFO", "GET", "/api/v1/tenants/current", 401)),
    ]);
  });

  it("writes nothing for a passing health probe at the default level, one line at debug", async () => {
    const quiet = await development();
    for (const url of ["/health/live", "/health/ready", "/health/serving"]) {
      expect((await quiet.app.inject({ method: "GET", url })).statusCode).toBe(200);
    }
    expect(quiet.logs.lines()).toEqual([]);

    const verbose = await development({ LOG_LEVEL: "debug" });
    await verbose.app.inject({ method: "GET", url: "/health/live" });
    const probeLines = verbose.logs.lines().filter((line) => line.includes("/health/live"));
    expect(probeLines).toEqual([
      expect.stringMatching(requestLine("DEBUG", "GET", "/health/live", 200)),
    ]);
  });

  it("keeps the JSON fields of the line when LOG_PRETTY is off", async () => {
    const logs = new LogCapture();
    const app = await build(
      { ENVIRONMENT: "development", LOG_LEVEL: undefined, LOG_PRETTY: "false" },
      logs,
    );
    logs.clear();
    await app.inject({ method: "GET", url: "/info" });
    expect(logs.lines).toEqual([
      expect.objectContaining({
        level: "info",
        msg: "request completed",
        method: "GET",
        path: "/info",
        route: "/info",
        status: 200,
        durationMs: expect.any(Number),
      }),
    ]);
  });
});

describe.each(["all", "errors-and-slow"])("health probes with REQUEST_LOG=%s", (mode) => {
  it("logs a passing probe at debug only", async () => {
    const logs = new LogCapture();
    const app = await build({ LOG_LEVEL: "debug", REQUEST_LOG: mode }, logs);
    await app.inject({ method: "GET", url: "/health/live" });
    const lines = logs.lines.filter((line) => line.path === "/health/live");
    // errors-and-slow writes no line for a fast success, at any level.
    expect(lines).toEqual(
      mode === "all" ? [expect.objectContaining({ level: "debug", status: 200 })] : [],
    );
  });

  it("logs a failing probe like any failed request", async () => {
    const logs = new LogCapture();
    const app = await build({ DATABASE_URL: CLOSED_DATABASE_URL, REQUEST_LOG: mode }, logs);
    expect((await app.inject({ method: "GET", url: "/health/ready" })).statusCode).toBe(503);
    expect(logs.lines.filter((line) => line.path === "/health/ready")).toEqual([
      expect.objectContaining({ level: "error", msg: "request failed", status: 503 }),
    ]);
  });

  it("logs a probe slower than REQUEST_LOG_SLOW_MS at info", async () => {
    const logs = new LogCapture();
    const database = await slowedDown(TEST_DATABASE_URL, 60);
    const app = await build(
      { DATABASE_URL: database, REQUEST_LOG: mode, REQUEST_LOG_SLOW_MS: "50" },
      logs,
    );
    const ready = await app.inject({ method: "GET", url: "/health/ready" });
    expect(ready.statusCode, ready.body).toBe(200);
    expect(logs.lines.filter((line) => line.path === "/health/ready")).toEqual([
      expect.objectContaining({ level: "info", msg: "request completed", status: 200 }),
    ]);
  });
});
