import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import {
  ensureServices,
  type Service,
  type ServiceControl,
  servicesOf,
  tcpAnswers,
} from "../local-services.js";

/**
 * The integration tests' service check (test/local-services.ts): which services it starts,
 * which it leaves alone, and the one line it fails with. The machine is a fake here: the
 * shared PostgreSQL and Redis of a development machine are not to be stopped by a test.
 */

interface Machine extends ServiceControl {
  readonly calls: string[];
}

/** A machine where `up` answer, `installed` could be started, and `broken` fail to start. */
function fakeMachine(options: {
  up?: string[];
  installed?: string[];
  broken?: Record<string, string>;
}): Machine {
  const up = new Set(options.up ?? []);
  const calls: string[] = [];
  return {
    calls,
    async answers(service) {
      return up.has(service.name);
    },
    installed: (service) => (options.installed ?? []).includes(service.name),
    async start(service) {
      calls.push(`start ${service.name}`);
      const failure = options.broken?.[service.name];
      if (failure !== undefined) throw Object.assign(new Error("exit 1"), { stderr: failure });
      up.add(service.name);
    },
    async stop(service) {
      calls.push(`stop ${service.name}`);
      up.delete(service.name);
    },
  };
}

const defaults = servicesOf({});
const names = (services: readonly Service[]) => services.map((service) => service.name);

describe("the services the integration tests reach", () => {
  it("are PostgreSQL and Redis on 127.0.0.1 by default, which .ci/services.sh can start", () => {
    expect(defaults).toMatchObject([
      { name: "PostgreSQL", host: "127.0.0.1", port: 5432, local: true, start: "ensure_postgres" },
      { name: "Redis", host: "127.0.0.1", port: 6379, local: true, start: "ensure_redis" },
    ]);
  });

  it("follow TEST_DATABASE_URL and TEST_REDIS_URL, local only on this machine's default port", () => {
    const services = servicesOf({
      TEST_DATABASE_URL: "postgres://postgres:postgres@localhost/postgres",
      TEST_REDIS_URL: "redis://10.1.2.3:6379",
    });
    expect(services).toMatchObject([
      { host: "localhost", port: 5432, local: true },
      { host: "10.1.2.3", port: 6379, local: false },
    ]);
    expect(servicesOf({ TEST_REDIS_URL: "redis://127.0.0.1:6390" })[1]).toMatchObject({
      port: 6390,
      local: false,
    });
  });
});

describe("ensureServices", () => {
  it("starts nothing when both answer", async () => {
    const machine = fakeMachine({
      up: ["PostgreSQL", "Redis"],
      installed: ["PostgreSQL", "Redis"],
    });
    expect(await ensureServices(defaults, machine)).toEqual({ ready: true, started: [] });
    expect(machine.calls).toEqual([]);
  });

  it("starts the one that does not answer when it is installed, and says so", async () => {
    const machine = fakeMachine({ up: ["Redis"], installed: ["PostgreSQL", "Redis"] });
    const notices: string[] = [];
    const readiness = await ensureServices(defaults, machine, (line) => notices.push(line));
    expect(readiness.ready).toBe(true);
    expect(names(readiness.started)).toEqual(["PostgreSQL"]);
    expect(machine.calls).toEqual(["start PostgreSQL"]);
    expect(notices).toEqual([
      "PostgreSQL did not answer on 127.0.0.1:5432: started it with .ci/services.sh; it is stopped when the tests end.",
    ]);
  });

  it("fails in one line naming both and what to run when neither is installed", async () => {
    const machine = fakeMachine({});
    const readiness = await ensureServices(defaults, machine);
    expect(readiness).toEqual({
      ready: false,
      started: [],
      message:
        "Integration tests cannot run: PostgreSQL does not answer on 127.0.0.1:5432 and is not installed here; Redis does not answer on 127.0.0.1:6379 and is not installed here. To fix: run `npm run services` (Docker; then TEST_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres), or `apt-get install postgresql redis-server` and the tests start them themselves.",
    });
    expect(machine.calls).toEqual([]);
  });

  it("never starts a server another machine or port is named for", async () => {
    const services = servicesOf({ TEST_REDIS_URL: "redis://10.1.2.3:6379" });
    const machine = fakeMachine({ up: ["PostgreSQL"], installed: ["PostgreSQL", "Redis"] });
    const readiness = await ensureServices(services, machine);
    expect(readiness).toMatchObject({
      ready: false,
      message:
        "Integration tests cannot run: Redis does not answer on 10.1.2.3:6379 (TEST_REDIS_URL). To fix: start it there, or unset TEST_REDIS_URL to use 127.0.0.1.",
    });
    expect(machine.calls).toEqual([]);
  });

  it("reports a start that failed with its first line, and what it did start", async () => {
    const machine = fakeMachine({
      installed: ["PostgreSQL", "Redis"],
      broken: {
        PostgreSQL: "\nError: You must run this program as the cluster owner (postgres) or root\n",
      },
    });
    const readiness = await ensureServices(defaults, machine);
    expect(readiness.ready).toBe(false);
    expect(names(readiness.started)).toEqual(["Redis"]);
    expect(readiness.ready === false && readiness.message).toBe(
      "Integration tests cannot run: PostgreSQL does not answer on 127.0.0.1:5432 and .ci/services.sh could not start it (Error: You must run this program as the cluster owner (postgres) or root). To fix: run `npm run services` (Docker; then TEST_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres), or `apt-get install postgresql redis-server` and the tests start them themselves.",
    );
    expect(readiness.ready === false && readiness.message).not.toContain("\n");
  });
});

describe("tcpAnswers", () => {
  it("tells a listening port from a closed one", async () => {
    const server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    try {
      expect(await tcpAnswers("127.0.0.1", port)).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await tcpAnswers("127.0.0.1", port)).toBe(false);
  });
});
