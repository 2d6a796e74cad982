import { execFile } from "node:child_process";
import { accessSync, constants, readdirSync } from "node:fs";
import { Socket } from "node:net";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/**
 * The integration tests' first global setup: PostgreSQL and Redis must answer before anything
 * else runs. One that does not, on its default address on this machine, is started with
 * .ci/services.sh when its server is installed here (the Debian packages CI uses), and stopped
 * again when the run ends. Otherwise the run stops at once with one line saying what to run,
 * instead of the same connection error from every test file.
 */

export interface Service {
  readonly name: "PostgreSQL" | "Redis";
  /** The variable that points the tests at another server. */
  readonly variable: "TEST_DATABASE_URL" | "TEST_REDIS_URL";
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

type Unavailable = { service: Service; why: "elsewhere" | "not installed" | string };

export type Readiness =
  | { ready: true; started: Service[] }
  | { ready: false; message: string; started: Service[] };

/** Makes sure every service answers, starting the local ones that can be started. */
export async function ensureServices(
  services: readonly Service[],
  control: ServiceControl,
  notice: (line: string) => void = () => {},
): Promise<Readiness> {
  const answering = await Promise.all(services.map((each) => control.answers(each)));
  const started: Service[] = [];
  const unavailable: Unavailable[] = [];
  for (const [index, each] of services.entries()) {
    if (answering[index]) continue;
    if (!each.local) {
      unavailable.push({ service: each, why: "elsewhere" });
      continue;
    }
    if (!control.installed(each)) {
      unavailable.push({ service: each, why: "not installed" });
      continue;
    }
    try {
      await control.start(each);
      started.push(each);
    } catch (error) {
      unavailable.push({ service: each, why: firstLine(error) });
      continue;
    }
    if (!(await control.answers(each))) {
      unavailable.push({ service: each, why: "it was started but does not answer" });
      continue;
    }
    notice(
      `${each.name} did not answer on ${address(each)}: started it with .ci/services.sh; it is stopped when the tests end.`,
    );
  }
  if (unavailable.length === 0) return { ready: true, started };
  return { ready: false, message: unavailableMessage(unavailable), started };
}

const address = (service: Service) => `${service.host}:${service.port}`;

function firstLine(error: unknown): string {
  const failed = error as { stderr?: string; message?: string };
  const text = `${failed.stderr ?? ""}`.trim() || `${failed.message ?? error}`;
  return text.split("\n").find((line) => line.trim() !== "") ?? "it could not be started";
}

/** One line: what does not answer, why it was not started, and what to run. */
export function unavailableMessage(unavailable: readonly Unavailable[]): string {
  const problems = unavailable.map(({ service, why }) => {
    const where = `${service.name} does not answer on ${address(service)}`;
    if (why === "elsewhere") return `${where} (${service.variable})`;
    if (why === "not installed") return `${where} and is not installed here`;
    return `${where} and .ci/services.sh could not start it (${why})`;
  });
  const elsewhere = unavailable.filter(({ why }) => why === "elsewhere");
  const advice =
    elsewhere.length === unavailable.length
      ? `start it there, or unset ${elsewhere.map(({ service }) => service.variable).join(" and ")} to use 127.0.0.1`
      : "run `npm run services` (Docker; then TEST_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres), or `apt-get install postgresql redis-server` and the tests start them themselves";
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

async function stopAll(services: readonly Service[]): Promise<void> {
  for (const each of services) {
    await machine.stop(each).catch((error: unknown) => {
      process.stderr.write(`${each.name} could not be stopped: ${firstLine(error)}\n`);
    });
  }
}

export default async function setup(): Promise<() => Promise<void>> {
  const readiness = await ensureServices(servicesOf(process.env), machine, (line) =>
    process.stderr.write(`${line}\n`),
  );
  if (!readiness.ready) {
    await stopAll(readiness.started);
    // The line alone: thrown, it would come with Vitest's report of a failed setup around it.
    process.stderr.write(`\n${readiness.message}\n\n`);
    process.exit(1);
  }
  return () => stopAll(readiness.started);
}
