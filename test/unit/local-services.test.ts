import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { hostname, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type ContainerControl,
  containerSpec,
  dockerControl,
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

/**
 * A machine where `up` answer, `installed` could be started, and `broken` fail to start; its
 * probe also answers on `containerPorts`, where the fake docker command publishes containers.
 */
function fakeMachine(options: {
  up?: string[];
  installed?: string[];
  broken?: Record<string, string>;
  containerPorts?: number[];
}): Machine {
  const up = new Set(options.up ?? []);
  const calls: string[] = [];
  return {
    calls,
    async answers(service) {
      if (options.containerPorts?.includes(service.port)) return true;
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

/** No Docker engine: what this machine has, and the binaries' path must not ask it anything. */
const noDocker: ContainerControl = {
  unavailable: async () => "the docker command is not installed",
  start: () => Promise.reject(new Error("no Docker here")),
  remove: () => Promise.reject(new Error("no Docker here")),
  removeNow: () => {
    throw new Error("no Docker here");
  },
};

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
    expect(await ensureServices(defaults, machine, noDocker)).toEqual({
      ready: true,
      started: [],
      containers: [],
      env: {},
    });
    expect(machine.calls).toEqual([]);
  });

  it("starts the one that does not answer when it is installed, and says so", async () => {
    const machine = fakeMachine({ up: ["Redis"], installed: ["PostgreSQL", "Redis"] });
    const notices: string[] = [];
    const readiness = await ensureServices(defaults, machine, noDocker, (line) =>
      notices.push(line),
    );
    expect(readiness.ready).toBe(true);
    expect(names(readiness.started)).toEqual(["PostgreSQL"]);
    expect(machine.calls).toEqual(["start PostgreSQL"]);
    expect(notices).toEqual([
      "PostgreSQL did not answer on 127.0.0.1:5432: started it with .ci/services.sh; it is stopped when the tests end.",
    ]);
  });

  it("fails in one line naming both and what to install when neither they nor Docker are", async () => {
    const machine = fakeMachine({});
    const readiness = await ensureServices(defaults, machine, noDocker);
    expect(readiness).toEqual({
      ready: false,
      started: [],
      containers: [],
      env: {},
      message:
        "Integration tests cannot run: PostgreSQL does not answer on 127.0.0.1:5432 and is not installed here; Redis does not answer on 127.0.0.1:6379 and is not installed here; the docker command is not installed. To fix: install Docker, or `apt-get install postgresql redis-server`, and the tests start them themselves.",
    });
    expect(machine.calls).toEqual([]);
  });

  it("never starts a server another machine or port is named for", async () => {
    const services = servicesOf({ TEST_REDIS_URL: "redis://10.1.2.3:6379" });
    const machine = fakeMachine({ up: ["PostgreSQL"], installed: ["PostgreSQL", "Redis"] });
    const readiness = await ensureServices(services, machine, noDocker);
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
    const readiness = await ensureServices(defaults, machine, noDocker);
    expect(readiness.ready).toBe(false);
    expect(names(readiness.started)).toEqual(["Redis"]);
    expect(readiness.ready === false && readiness.message).toBe(
      "Integration tests cannot run: PostgreSQL does not answer on 127.0.0.1:5432 and .ci/services.sh could not start it (Error: You must run this program as the cluster owner (postgres) or root). To fix: the cause in parentheses, or start them yourself (`npm run services` with Docker, then TEST_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres).",
    );
    expect(readiness.ready === false && readiness.message).not.toContain("\n");
  });
});

/**
 * A fake `docker` command in a folder of its own: it appends each call's arguments to calls.log
 * and answers like the engine would. FAKE_DOCKER_DOWN makes `docker info` fail as with no daemon;
 * FAKE_DOCKER_READY_AFTER is how many `docker exec` probes fail before the server answers;
 * FAKE_DOCKER_PS is what `docker ps` lists.
 */
function fakeDocker(env: Record<string, string> = {}, readyTimeoutMs = 10_000) {
  const folder = mkdtempSync(join(tmpdir(), "fake-docker-"));
  const log = join(folder, "calls.log");
  writeFileSync(log, "");
  // POSIX sh, not Node: it runs a few dozen times per test and must start quickly.
  const script = `#!/bin/sh
for arg in "$@"; do printf '%s\\037' "$arg"; done >>"${log}"
echo >>"${log}"
case "$1" in
  info)
    if [ -n "$FAKE_DOCKER_DOWN" ]; then
      echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
      exit 1
    fi
    echo 27.3.1 ;;
  ps) [ -z "$FAKE_DOCKER_PS" ] || printf '%b\\n' "$FAKE_DOCKER_PS" ;;
  run)
    if [ -n "$FAKE_DOCKER_OFFLINE" ]; then
      echo "Unable to find image 'postgres:16-alpine' locally" >&2
      echo 'docker: Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host.' >&2
      exit 125
    fi
    case "$*" in *postgres:*) echo pg0123 ;; *) echo rd0123 ;; esac ;;
  port) if [ "$2" = pg0123 ]; then echo 127.0.0.1:49153; else echo 127.0.0.1:49154; fi ;;
  exec)
    counter="${folder}/probes-$2"
    probes=$(cat "$counter" 2>/dev/null || echo 0)
    echo $((probes + 1)) >"$counter"
    [ "$probes" -ge "\${FAKE_DOCKER_READY_AFTER:-0}" ] || exit 1
    [ "$3" != redis-cli ] || echo PONG ;;
  logs) echo "FATAL:  data directory has wrong ownership" >&2 ;;
esac
`;
  writeFileSync(join(folder, "docker"), script);
  chmodSync(join(folder, "docker"), 0o755);
  folders.push(folder);
  return {
    control: dockerControl({
      env: { ...process.env, ...env, PATH: `${folder}${delimiter}${process.env.PATH}` },
      readyTimeoutMs,
      pollMs: 10,
    }),
    calls: (): string[][] =>
      readFileSync(log, "utf8")
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => line.split("\x1f").slice(0, -1)),
  };
}

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

const verbs = (calls: string[][]) => calls.map((call) => call[0]);

describe("ensureServices with Docker", () => {
  it("starts throwaway containers when neither server is installed, and points the tests at them", async () => {
    const docker = fakeDocker({ FAKE_DOCKER_READY_AFTER: "2" });
    const machine = fakeMachine({ containerPorts: [49153, 49154] });
    const notices: string[] = [];
    const readiness = await ensureServices(defaults, machine, docker.control, (line) =>
      notices.push(line),
    );

    expect(readiness).toMatchObject({ ready: true, started: [] });
    expect(readiness.env).toEqual({
      TEST_DATABASE_URL: "postgres://postgres@127.0.0.1:49153/postgres",
      TEST_REDIS_URL: "redis://127.0.0.1:49154",
    });
    expect(readiness.containers.map(({ id, port }) => [id, port])).toEqual([
      ["pg0123", 49153],
      ["rd0123", 49154],
    ]);
    expect(machine.calls).toEqual([]);
    const calls = docker.calls();
    // The engine asked once; leftovers looked for once; two probes failing, the third answering.
    expect(verbs(calls)).toEqual([
      "info",
      "ps",
      "run",
      "port",
      "exec",
      "exec",
      "exec",
      "run",
      "port",
      "exec",
      "exec",
      "exec",
    ]);
    const [postgresRun, redisRun] = calls.filter((call) => call[0] === "run");
    expect(postgresRun).toEqual([
      "run",
      "-d",
      "--name",
      expect.stringMatching(new RegExp(`^kit-test-postgresql-${process.pid}-`)),
      "--label",
      `kit.test-services.owner=${hostname()}/${process.pid}`,
      "-p",
      "127.0.0.1::5432",
      "-e",
      "POSTGRES_HOST_AUTH_METHOD=trust",
      "-e",
      "POSTGRES_USER=postgres",
      "-e",
      "POSTGRES_DB=postgres",
      "postgres:16-alpine",
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
    ]);
    expect(redisRun?.slice(6)).toEqual([
      "-p",
      "127.0.0.1::6379",
      "redis:7-alpine",
      "redis-server",
      "--save",
      "",
      "--appendonly",
      "no",
    ]);
    expect(calls).toContainEqual([
      "exec",
      "pg0123",
      "pg_isready",
      "-q",
      "-h",
      "127.0.0.1",
      "-U",
      "postgres",
      "-d",
      "postgres",
    ]);
    expect(calls).toContainEqual(["exec", "rd0123", "redis-cli", "ping"]);
    expect(notices).toEqual([
      "PostgreSQL did not answer on 127.0.0.1:5432 and is not installed here: started postgres:16-alpine in Docker on 127.0.0.1:49153 (TEST_DATABASE_URL); it is removed when the tests end.",
      "Redis did not answer on 127.0.0.1:6379 and is not installed here: started redis:7-alpine in Docker on 127.0.0.1:49154 (TEST_REDIS_URL); it is removed when the tests end.",
    ]);

    await docker.control.remove(readiness.containers);
    expect(docker.calls().at(-1)).toEqual(["rm", "-f", "-v", "pg0123", "rd0123"]);
    docker.control.removeNow(readiness.containers.slice(1));
    expect(docker.calls().at(-1)).toEqual(["rm", "-f", "-v", "rd0123"]);
  });

  it("prefers the installed binaries, and runs in Docker only the server that is not", async () => {
    const docker = fakeDocker();
    const machine = fakeMachine({ installed: ["PostgreSQL"], containerPorts: [49154] });
    const readiness = await ensureServices(defaults, machine, docker.control);
    expect(readiness).toMatchObject({
      ready: true,
      env: { TEST_REDIS_URL: "redis://127.0.0.1:49154" },
    });
    expect(names(readiness.started)).toEqual(["PostgreSQL"]);
    expect(machine.calls).toEqual(["start PostgreSQL"]);
    expect(readiness.containers.map(({ id }) => id)).toEqual(["rd0123"]);
    expect(verbs(docker.calls())).toEqual(["info", "ps", "run", "port", "exec"]);
  });

  it("never asks Docker when both answer or are installed", async () => {
    const docker = fakeDocker();
    await ensureServices(defaults, fakeMachine({ up: ["PostgreSQL", "Redis"] }), docker.control);
    await ensureServices(
      defaults,
      fakeMachine({ installed: ["PostgreSQL", "Redis"] }),
      docker.control,
    );
    expect(docker.calls()).toEqual([]);
  });

  it("keeps the login, password and database TEST_DATABASE_URL names", async () => {
    const [postgres] = servicesOf({ TEST_DATABASE_URL: "postgres://kit:secret@localhost/kit_db" });
    const spec = containerSpec(postgres as Service);
    expect(spec.run).toEqual(expect.arrayContaining(["POSTGRES_USER=kit", "POSTGRES_DB=kit_db"]));
    expect(spec.url(49153)).toBe("postgres://kit:secret@127.0.0.1:49153/kit_db");
  });

  it("fails in one line saying to start Docker when its engine does not answer", async () => {
    const docker = fakeDocker({ FAKE_DOCKER_DOWN: "1" });
    const readiness = await ensureServices(defaults, fakeMachine({}), docker.control);
    expect(readiness.ready === false && readiness.message).toBe(
      "Integration tests cannot run: PostgreSQL does not answer on 127.0.0.1:5432 and is not installed here; Redis does not answer on 127.0.0.1:6379 and is not installed here; `docker info` fails (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?). To fix: start Docker (`docker info` must answer), or `apt-get install postgresql redis-server`, and the tests start them themselves.",
    );
    expect(verbs(docker.calls())).toEqual(["info"]);
  });

  it("says to install Docker when there is no docker command", async () => {
    const control = dockerControl({ env: { PATH: mkdtempSync(join(tmpdir(), "no-docker-")) } });
    expect(await control.unavailable()).toBe("the docker command is not installed");
  });

  it("removes a container that never answers, and says why in one line", async () => {
    const docker = fakeDocker({ FAKE_DOCKER_READY_AFTER: "1000" }, 500);
    const readiness = await ensureServices(
      defaults,
      fakeMachine({ up: ["Redis"], containerPorts: [49153] }),
      docker.control,
    );
    expect(readiness).toMatchObject({ ready: false, containers: [], env: {} });
    expect(readiness.ready === false && readiness.message).toBe(
      "Integration tests cannot run: PostgreSQL does not answer on 127.0.0.1:5432 and Docker could not start it (it did not answer within 0.5 s: FATAL:  data directory has wrong ownership). To fix: the cause in parentheses, or start them yourself (`npm run services` with Docker, then TEST_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres).",
    );
    expect(docker.calls().slice(-2)).toEqual([
      ["logs", "--tail", "1", "pg0123"],
      ["rm", "-f", "-v", "pg0123"],
    ]);
  });

  it("reports the daemon's error when an image cannot be pulled", async () => {
    const docker = fakeDocker({ FAKE_DOCKER_OFFLINE: "1" });
    const readiness = await ensureServices(
      defaults,
      fakeMachine({ up: ["Redis"] }),
      docker.control,
    );
    expect(readiness.ready === false && readiness.message).toBe(
      'Integration tests cannot run: PostgreSQL does not answer on 127.0.0.1:5432 and Docker could not start it (docker: Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host.). To fix: the cause in parentheses, or start them yourself (`npm run services` with Docker, then TEST_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres).',
    );
    expect(verbs(docker.calls())).toEqual(["info", "ps", "run"]);
  });

  it("removes the containers a killed run of this machine left behind, and only those", async () => {
    const docker = fakeDocker({
      FAKE_DOCKER_PS: [
        `dead01 ${hostname()}/2147483646`,
        `mine01 ${hostname()}/${process.pid}`,
        `live01 ${hostname()}/${process.ppid}`,
        "else01 another-machine/2147483646",
      ].join("\n"),
    });
    await ensureServices(
      defaults,
      fakeMachine({ up: ["PostgreSQL"], containerPorts: [49154] }),
      docker.control,
    );
    expect(docker.calls().slice(0, 3)).toEqual([
      ["info", "--format", "{{.ServerVersion}}"],
      [
        "ps",
        "-a",
        "--filter",
        "label=kit.test-services.owner",
        "--format",
        '{{.ID}} {{.Label "kit.test-services.owner"}}',
      ],
      ["rm", "-f", "-v", "dead01"],
    ]);
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
