/**
 * The production topology on this machine, without Docker (docs/operations.md#the-topology-on-one-machine):
 *   npm run topology                         start, print where each part listens, wait for Ctrl-C
 *   npm run topology -- --once               start, check readiness through Caddy, stop
 *   npm run topology -- --apis 3 --workers 1 --prepared-statements
 */
import { parseArgs } from "node:util";
import { startTopology, type Topology } from "./lib/topology/topology.js";

const { values } = parseArgs({
  options: {
    once: { type: "boolean", default: false },
    apis: { type: "string", default: "2" },
    workers: { type: "string", default: "2" },
    "prepared-statements": { type: "boolean", default: false },
  },
});

const count = (name: string, value: string, least: number) => {
  const number = Number(value);
  if (!Number.isInteger(number) || number < least) {
    console.error(`--${name} must be a whole number of at least ${least}`);
    process.exit(2);
  }
  return number;
};

const started = Date.now();
let topology: Topology | undefined;
let stopping = false;
let firstSignalAt = 0;

const stop = async (reason: string) => {
  if (stopping || !topology) return;
  stopping = true;
  console.log(`\n${reason}: stopping the APIs and workers (they drain), then the rest`);
  try {
    await topology.stop();
    console.log("stopped; files removed");
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  }
};

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    // A terminal's Ctrl-C reaches npm and tsx too, which may pass it on: one second of grace.
    if (firstSignalAt && Date.now() - firstSignalAt > 1_000) {
      console.error("second signal: killing everything now");
      process.exit(130);
    }
    firstSignalAt ||= Date.now();
    if (!topology) {
      // Still starting: the start's own clean-up runs when this exit fires.
      process.exit(130);
    }
    void stop(signal).then(() => process.exit());
  });
}

try {
  topology = await startTopology({
    apis: count("apis", values.apis, 1),
    workers: count("workers", values.workers, 1),
    preparedStatements: values["prepared-statements"],
    log: (message) => console.log(`- ${message}`),
  });
} catch (error) {
  console.error(`the topology did not start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
}

console.log(`\nready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
console.log(topology.describe());
console.log(`
The API: ${topology.url} (try ${topology.url}/health/ready); /metrics answers 404 there, as
in production: scrape an API process directly with the bearer token. PostgreSQL as the owner:
psql -h ${topology.postgres.socketDirectory} -p ${topology.postgres.port} -U postgres app (as root or postgres).
Mails the workers send are caught by the SMTP sink and listed here.`);
topology.mail.onMessage((mail) => console.log(`mail to ${mail.to.join(", ")}: ${mail.subject}`));

if (values.once) {
  const response = await fetch(`${topology.url}/health/ready`);
  console.log(`\nGET /health/ready through Caddy: ${response.status} ${await response.text()}`);
  await stop("--once");
  if (!response.ok) process.exitCode = 1;
} else {
  console.log("\nCtrl-C stops everything.");
  // Stays alive on the child processes and the SMTP sink until a signal arrives.
}
