import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { TEST_DATABASE_URL, TEST_REDIS_URL } from "../helpers/app.js";
import { get, type Outcome, startServer } from "../helpers/server-process.js";

/**
 * Graceful shutdown over a real socket: a child process runs startServer() from src/server.ts
 * (test/fixtures/slow-server.ts, with a GET /api/v1/slow?ms=N route) and receives SIGTERM while
 * a request is in flight.
 */

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
    const server = await startServer({
      SHUTDOWN_TIMEOUT_MS: "5000",
      SHUTDOWN_DRAIN_MS: "1500",
      // Hundreds of requests a second from one address: the per-IP limit is not under test.
      RATE_LIMIT_ENABLED: "false",
    });
    // Clients like a load balancer's upstream pool: eight kept-alive connections in constant use.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const outcomes: Outcome[] = [];
    let routedAway = false;
    let readyAfterSignal: number | undefined;
    let servingAfterSignal: number | undefined;
    let signalled = false;
    // The balancer's health check: once readiness answers 503 it routes new requests elsewhere
    // (here: sends none), a moment later, as a real balancer's check interval would.
    const healthCheck = (async () => {
      while (!routedAway) {
        const ready = await get(server.port, "/health/ready", false);
        const serving = await get(server.port, "/health/serving", false);
        if (signalled && ready.ok && ready.status === 503) {
          readyAfterSignal = ready.status;
          // The balancer's own probe turns with it.
          servingAfterSignal = serving.ok ? serving.status : undefined;
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
      expect(servingAfterSignal).toBe(503);
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
