import { execFile, execFileSync } from "node:child_process";
import { accessSync, constants, readdirSync } from "node:fs";
import { Socket } from "node:net";
import { hostname } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/**
 * The integration tests' first global setup: PostgreSQL and Redis must answer before anything
 * else runs. One that does not, on its default address on this machine, is started with
 * .ci/services.sh when its server is installed here (the Debian packages CI uses), or else in a
 * throwaway Docker container when a Docker engine answers, pointed to by TEST_DATABASE_URL or
 * TEST_REDIS_URL; either is stopped (the container removed) when the run ends. Otherwise the run
 * stops at once with one line saying what to install, instead of the same connection error from
 * every test file.
 */

export interface Service {
  readonly name: "PostgreSQL" | "Redis";
  /** The variable that points the tests at another server. */
  readonly variable: "TEST_DATABASE_URL" | "TEST_REDIS_URL";
  /** Where the tests reach it: the variable's value, or the default. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** At the address .ci/services.sh starts it on: this machine, the default port. */
  readonly local: boolean;
  /** The functions of .ci/services.sh that start and stop it. */
  readonly start: string;
  readonly stop: string;
  /** The programs those functions run. */
  readonly programs: readonly string[];
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

function service(
  name: Service["name"],
  variable: Service["variable"],
  url: string,
  defaultPort: number,
  functions: { start: string; stop: string; programs: readonly string[] },
): Service {
  const parsed = new URL(url);
  const port = parsed.port === "" ? defaultPort : Number(parsed.port);
  return {
    name,
    variable,
    url,
    host: parsed.hostname,
    port,
    local: LOOPBACK.has(parsed.hostname) && port === defaultPort,
    ...functions,
  };
}

/** The two services the tests reach, where TEST_DATABASE_URL and TEST_REDIS_URL say. */
export function servicesOf(env: Record<string, string | undefined>): Service[] {
  return [
    service(
      "PostgreSQL",
      "TEST_DATABASE_URL",
      env.TEST_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres",
      5432,
      {
        start: "ensure_postgres",
        stop: "stop_postgres",
        programs: ["pg_ctlcluster", "pg_isready"],
      },
    ),
    service("Redis", "TEST_REDIS_URL", env.TEST_REDIS_URL || "redis://127.0.0.1:6379", 6379, {
      start: "ensure_redis",
      stop: "stop_redis",
      programs: ["redis-server", "redis-cli"],
    }),
  ];
}

/** What the setup does to the machine; tests of the decisions pass fakes. */
export interface ServiceControl {
  answers(service: Service): Promise<boolean>;
  installed(service: Service): boolean;
  /** Starts it; throws with what went wrong. */
  start(service: Service): Promise<void>;
  stop(service: Service): Promise<void>;
}

/** A throwaway container serving `service` on 127.0.0.1:`port`, reached at `url`. */
export interface Container {
  readonly service: Service;
  readonly id: string;
  readonly image: string;
  readonly port: number;
  readonly url: string;
}

/** The Docker engine, through the docker command. */
export interface ContainerControl {
  /** Undefined when an engine answers (`docker info`), otherwise why not, in a few words. */
  unavailable(): Promise<string | undefined>;
  /** Starts a container for `service` and waits until its server answers inside; throws otherwise. */
  start(service: Service): Promise<Container>;
  remove(containers: readonly Container[]): Promise<void>;
  /** The same, synchronously: for the process's `exit` event, when an interrupt ends the run. */
  removeNow(containers: readonly Container[]): void;
}

type Unavailable =
  | { service: Service; why: "elsewhere" }
  | { service: Service; why: "not installed"; docker: string }
  | { service: Service; why: "not started"; by: ".ci/services.sh" | "Docker"; error: string };

export type Readiness = {
  /** Started with .ci/services.sh, to be stopped. */
  started: Service[];
  /** Started in Docker, to be removed. */
  containers: Container[];
  /** TEST_DATABASE_URL and TEST_REDIS_URL of the containers, for the tests. */
  env: Record<string, string>;
} & ({ ready: true } | { ready: false; message: string });

/**
 * Makes sure every service answers, starting the local ones that can be started: with the
 * binaries installed here first (the development and CI machines), else in Docker.
 */
export async function ensureServices(
  services: readonly Service[],
  control: ServiceControl,
  docker: ContainerControl,
  notice: (line: string) => void = () => {},
): Promise<Readiness> {
  const answering = await Promise.all(services.map((each) => control.answers(each)));
  const started: Service[] = [];
  const containers: Container[] = [];
  const env: Record<string, string> = {};
  const unavailable: Unavailable[] = [];
  // Asked once, and only when a service needs it: `docker info` takes a while.
  let dockerProblem: Promise<string | undefined> | undefined;
  for (const [index, each] of services.entries()) {
    if (answering[index]) continue;
    if (!each.local) {
      unavailable.push({ service: each, why: "elsewhere" });
      continue;
    }
    if (control.installed(each)) {
      try {
        await control.start(each);
        started.push(each);
      } catch (error) {
        unavailable.push({
          service: each,
          why: "not started",
          by: ".ci/services.sh",
          error: firstLine(error),
        });
        continue;
      }
      if (!(await control.answers(each))) {
        unavailable.push({
          service: each,
          why: "not started",
          by: ".ci/services.sh",
          error: "it was started but does not answer",
        });
        continue;
      }
      notice(
        `${each.name} did not answer on ${address(each)}: started it with .ci/services.sh; it is stopped when the tests end.`,
      );
      continue;
    }
    dockerProblem ??= docker.unavailable();
    const problem = await dockerProblem;
    if (problem !== undefined) {
      unavailable.push({ service: each, why: "not installed", docker: problem });
      continue;
    }
    let container: Container;
    try {
      container = await docker.start(each);
      containers.push(container);
    } catch (error) {
      unavailable.push({
        service: each,
        why: "not started",
        by: "Docker",
        error: firstLine(error),
      });
      continue;
    }
    if (!(await control.answers({ ...each, host: "127.0.0.1", port: container.port }))) {
      unavailable.push({
        service: each,
        why: "not started",
        by: "Docker",
        error: `its container does not answer on 127.0.0.1:${container.port}`,
      });
      continue;
    }
    env[each.variable] = container.url;
    notice(
      `${each.name} did not answer on ${address(each)} and is not installed here: started ${container.image} in Docker on 127.0.0.1:${container.port} (${each.variable}); it is removed when the tests end.`,
    );
  }
  if (unavailable.length === 0) return { ready: true, started, containers, env };
  return { ready: false, message: unavailableMessage(unavailable), started, containers, env };
}

const NO_DOCKER = "the docker command is not installed";

const address = (service: Service) => `${service.host}:${service.port}`;

function firstLine(error: unknown): string {
  const failed = error as { stderr?: string; message?: string };
  const text = `${failed.stderr ?? ""}`.trim() || `${failed.message ?? error}`;
  return (
    text
      .split("\n")
      .find((line) => line.trim() !== "")
      ?.trim() ?? "it could not be started"
  );
}

/** One line: what does not answer, why it was not started, and what to install or run. */
export function unavailableMessage(unavailable: readonly Unavailable[]): string {
  const problems = unavailable.map((each) => {
    const where = `${each.service.name} does not answer on ${address(each.service)}`;
    if (each.why === "elsewhere") return `${where} (${each.service.variable})`;
    if (each.why === "not installed") return `${where} and is not installed here`;
    return `${where} and ${each.by} could not start it (${each.error})`;
  });
  const docker = unavailable.find((each) => each.why === "not installed")?.docker;
  if (docker !== undefined) problems.push(docker);
  const elsewhere = unavailable.filter(({ why }) => why === "elsewhere");
  const advice =
    elsewhere.length === unavailable.length
      ? `start it there, or unset ${elsewhere.map(({ service }) => service.variable).join(" and ")} to use 127.0.0.1`
      : docker !== undefined
        ? `${docker === NO_DOCKER ? "install Docker" : "start Docker (`docker info` must answer)"}, or \`apt-get install postgresql redis-server\`, and the tests start them themselves`
        : "the cause in parentheses, or start them yourself (`npm run services` with Docker, then TEST_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres)";
  return `Integration tests cannot run: ${problems.join("; ")}. To fix: ${advice}.`;
}

/** Whether something accepts TCP connections at the service's address within `timeoutMs`. */
export function tcpAnswers(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.connect(port, host.replace(/^\[|\]$/g, ""));
  });
}

const servicesScript = fileURLToPath(new URL("../.ci/services.sh", import.meta.url));
const run = promisify(execFile);

function onPath(program: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((folder) => {
    try {
      accessSync(join(folder, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** This machine, through the functions of .ci/services.sh. */
export const machine: ServiceControl = {
  answers: (service) => tcpAnswers(service.host, service.port),
  installed(service) {
    if (!service.programs.every(onPath)) return false;
    if (service.name !== "PostgreSQL") return true;
    // A Debian cluster to start, which ensure_postgres finds under /etc/postgresql.
    try {
      return readdirSync("/etc/postgresql").length > 0;
    } catch {
      return false;
    }
  },
  async start(service) {
    await run("bash", ["-c", `. "$0" && ${service.start}`, servicesScript], { timeout: 60_000 });
  },
  async stop(service) {
    await run("bash", ["-c", `. "$0" && ${service.stop}`, servicesScript], { timeout: 60_000 });
  },
};

/** The images: those of deploy/docker-compose.yml (`npm run services`) and CI. */
export const IMAGES = { PostgreSQL: "postgres:16-alpine", Redis: "redis:7-alpine" } as const;
/**
 * Marks the containers the tests start with the machine and process that started them: a run
 * removes those of a dead process of its own machine only (another container sharing the
 * engine has processes of its own under the same numbers).
 */
const LABEL = "kit.test-services.owner";
const owner = () => `${hostname()}/${process.pid}`;

/** How to run a container for `service`, and how to ask it whether it answers yet. */
export function containerSpec(service: Service): {
  image: string;
  containerPort: number;
  run: string[];
  ready: string[];
  url: (port: number) => string;
} {
  const url = (port: number) => {
    const moved = new URL(service.url);
    moved.hostname = "127.0.0.1";
    moved.port = String(port);
    return moved.toString();
  };
  if (service.name === "Redis") {
    return {
      image: IMAGES.Redis,
      containerPort: 6379,
      // Nothing written to disk: the data lives as long as the run.
      run: [IMAGES.Redis, "redis-server", "--save", "", "--appendonly", "no"],
      ready: ["redis-cli", "ping"],
      url,
    };
  }
  // The login and database the URL names, trusted without a password like CI's PostgreSQL.
  const parsed = new URL(service.url);
  const user = decodeURIComponent(parsed.username) || "postgres";
  const database = decodeURIComponent(parsed.pathname.slice(1)) || user;
  return {
    image: IMAGES.PostgreSQL,
    containerPort: 5432,
    run: [
      "-e",
      "POSTGRES_HOST_AUTH_METHOD=trust",
      "-e",
      `POSTGRES_USER=${user}`,
      "-e",
      `POSTGRES_DB=${database}`,
      IMAGES.PostgreSQL,
      // A throwaway server: durability only slows the tests down.
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
    ],
    // Over TCP: the image's initialisation runs a server on its socket only, then restarts it.
    ready: ["pg_isready", "-q", "-h", "127.0.0.1", "-U", user, "-d", database],
    url,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The Docker engine through the docker command (no new dependency): containers on a port Docker
 * picks on 127.0.0.1, labelled with this process's id so that those a killed run left behind are
 * removed by the next one.
 */
export function dockerControl(
  options: { env?: NodeJS.ProcessEnv; readyTimeoutMs?: number; pollMs?: number } = {},
): ContainerControl {
  const env = options.env ?? process.env;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const pollMs = options.pollMs ?? 250;
  const docker = async (args: string[], timeout = 30_000) =>
    (await run("docker", args, { env, timeout, encoding: "utf8" })).stdout.trim();

  let leftovers: Promise<void> | undefined;
  async function removeLeftovers(): Promise<void> {
    const listed = await docker([
      "ps",
      "-a",
      "--filter",
      `label=${LABEL}`,
      "--format",
      `{{.ID}} {{.Label "${LABEL}"}}`,
    ]);
    const orphans = listed
      .split("\n")
      .map((line) => /^(\S+) (.+)\/(\d+)$/.exec(line.trim()))
      .filter((match) => match !== null)
      .filter(([, , host, pid]) => host === hostname() && !alive(Number(pid)))
      .map(([, id]) => id as string);
    if (orphans.length > 0) await docker(["rm", "-f", "-v", ...orphans]);
  }

  return {
    async unavailable() {
      try {
        await docker(["info", "--format", "{{.ServerVersion}}"], 20_000);
        return undefined;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return NO_DOCKER;
        return `\`docker info\` fails (${firstLine(error)})`;
      }
    },
    async start(service) {
      leftovers ??= removeLeftovers();
      await leftovers;
      const spec = containerSpec(service);
      const name = `kit-test-${service.name.toLowerCase()}-${process.pid}-${Date.now().toString(36)}`;
      // A first run pulls the image: minutes on a slow line.
      const id = await docker(
        [
          "run",
          "-d",
          "--name",
          name,
          "--label",
          `${LABEL}=${owner()}`,
          "-p",
          `127.0.0.1::${spec.containerPort}`,
          ...spec.run,
        ],
        600_000,
      ).catch((error: unknown) => {
        throw new Error(dockerError(error));
      });
      try {
        const published = await docker(["port", id, `${spec.containerPort}/tcp`]);
        const port = Number(/:(\d+)\s*$/m.exec(published)?.[1]);
        if (!Number.isInteger(port) || port <= 0)
          throw new Error(`docker port printed ${JSON.stringify(published)}`);
        const deadline = Date.now() + readyTimeoutMs;
        for (;;) {
          const answered = await docker(["exec", id, ...spec.ready]).then(
            () => true,
            () => false,
          );
          if (answered) break;
          if (Date.now() > deadline) {
            const logs = await run("docker", ["logs", "--tail", "1", id], {
              env,
              encoding: "utf8",
            }).then(
              ({ stdout, stderr }) => `${stderr}${stdout}`.trim(),
              () => "",
            );
            throw new Error(
              `it did not answer within ${readyTimeoutMs / 1000} s${logs ? `: ${logs}` : ""}`,
            );
          }
          await sleep(pollMs);
        }
        return { service, id, image: spec.image, port, url: spec.url(port) };
      } catch (error) {
        await docker(["rm", "-f", "-v", id]).catch(() => {});
        throw error;
      }
    },
    async remove(containers) {
      if (containers.length > 0)
        await docker(["rm", "-f", "-v", ...containers.map(({ id }) => id)]);
    },
    removeNow(containers) {
      if (containers.length === 0) return;
      execFileSync("docker", ["rm", "-f", "-v", ...containers.map(({ id }) => id)], {
        env,
        stdio: "ignore",
        timeout: 30_000,
      });
    },
  };
}

/**
 * The line of a failed docker command that says why: `docker run` prints the pull's progress
 * first ("Unable to find image ... locally") and the daemon's error last.
 */
function dockerError(error: unknown): string {
  const lines = `${(error as { stderr?: string }).stderr ?? ""}`
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
  return lines.find((line) => /error/i.test(line)) ?? lines.at(-1) ?? firstLine(error);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it lives, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Stops what `readiness` started. Registered for the process's `exit` too, synchronously: an
 * interrupt (Ctrl-C) makes Vitest exit without its teardown.
 */
function cleanupOf(readiness: Readiness, docker: ContainerControl) {
  let done = false;
  const report = (what: string, error: unknown) =>
    process.stderr.write(`${what} could not be stopped: ${firstLine(error)}\n`);
  const onExit = () => {
    if (done) return;
    done = true;
    try {
      docker.removeNow(readiness.containers);
    } catch (error) {
      report("The test containers", error);
    }
    for (const each of readiness.started) {
      try {
        execFileSync("bash", ["-c", `. "$0" && ${each.stop}`, servicesScript], {
          stdio: "ignore",
          timeout: 60_000,
        });
      } catch (error) {
        report(each.name, error);
      }
    }
  };
  process.once("exit", onExit);
  return async () => {
    process.off("exit", onExit);
    if (done) return;
    done = true;
    await docker
      .remove(readiness.containers)
      .catch((error: unknown) => report("The test containers", error));
    for (const each of readiness.started) {
      await machine.stop(each).catch((error: unknown) => report(each.name, error));
    }
  };
}

export default async function setup(): Promise<() => Promise<void>> {
  const docker = dockerControl();
  const readiness = await ensureServices(servicesOf(process.env), machine, docker, (line) =>
    process.stderr.write(`${line}\n`),
  );
  const cleanup = cleanupOf(readiness, docker);
  if (!readiness.ready) {
    await cleanup();
    // The line alone: thrown, it would come with Vitest's report of a failed setup around it.
    process.stderr.write(`\n${readiness.message}\n\n`);
    process.exit(1);
  }
  // Read by the test workers Vitest starts after the global setups, and by test/global-setup.ts.
  Object.assign(process.env, readiness.env);
  return cleanup;
}
