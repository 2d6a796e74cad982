/**
 * The fault suite against the production topology (docs/operations.md#fault-suite):
 *   npm run chaos                  every scenario, Redis stopped for 30 s
 *   npm run chaos -- --short       Redis stopped for 10 s
 *   npm run chaos -- --redis-outage 45 --concurrency 16 --only pgbouncer,redis
 *   npm run chaos -- --only tenant-flood --flood-rate 600
 * Starts the topology once, prepares tenants, runs each scenario under steady load through
 * Caddy on 127.0.0.1, prints a table, writes bench/results/chaos-<date>.json and exits 1 if a
 * scenario broke its rule.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { prepareTenant, signIn } from "./lib/chaos/fixtures.js";
import { slowDatabase, tenantFlood } from "./lib/chaos/overload-scenarios.js";
import {
  apiRollingRestart,
  pgbouncerRestart,
  postgresRestart,
  redisOutage,
  type ScenarioContext,
  type ScenarioResult,
  workerKilled,
} from "./lib/chaos/scenarios.js";
import { startTopology, type Topology } from "./lib/topology/topology.js";

const SCENARIOS = {
  "postgres-fast": postgresRestart("fast"),
  "postgres-immediate": postgresRestart("immediate"),
  pgbouncer: pgbouncerRestart,
  "api-sigterm": apiRollingRestart,
  redis: redisOutage,
  "worker-sigkill": workerKilled,
  "slow-database": slowDatabase,
  "tenant-flood": tenantFlood,
} as const satisfies Record<string, (context: ScenarioContext) => Promise<ScenarioResult>>;
type ScenarioName = keyof typeof SCENARIOS;

const { values } = parseArgs({
  options: {
    short: { type: "boolean", default: false },
    "redis-outage": { type: "string" },
    concurrency: { type: "string", default: "8" },
    "flood-rate": { type: "string", default: "200" },
    only: { type: "string" },
  },
});

const seconds = Number(values["redis-outage"] ?? (values.short ? 10 : 30));
const concurrency = Number(values.concurrency);
const floodPerSecond = Number(values["flood-rate"]);
const chosen = (values.only?.split(",") ?? Object.keys(SCENARIOS)) as ScenarioName[];
const unknown = chosen.filter((name) => !(name in SCENARIOS));
if (
  !(seconds > 0) ||
  !Number.isInteger(concurrency) ||
  concurrency < 1 ||
  !(floodPerSecond > 0) ||
  unknown.length > 0
) {
  console.error(
    `usage: npm run chaos -- [--short] [--redis-outage <seconds>] [--concurrency <n>] [--flood-rate <per second>] [--only ${Object.keys(SCENARIOS).join(",")}]`,
  );
  process.exit(2);
}

const log = (message: string) => console.log(message);
let topology: Topology | undefined;
process.on("SIGINT", () => {
  void (topology?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
});

const results: ScenarioResult[] = [];
const finalStop: Record<string, { code: number | null; signal: string | null }> = {};
try {
  topology = await startTopology({ log: (message) => log(`- ${message}`) });
  // Every request comes from 127.0.0.1: the per-IP and per-tenant limits would answer 429 long
  // before a fault does. The limiters still run (and meet the Redis outage); only the numbers grow.
  log("- restarting the kit with the general rate limits raised");
  await topology.restartKit({
    RATE_LIMIT_IP: "10000000",
    RATE_LIMIT_FREE: "10000000",
  });
  log("- preparing 3 tenants with 5 custom roles each");
  const tenants = [];
  for (let n = 0; n < 3; n += 1) tenants.push(await prepareTenant(topology, 5));
  const context: ScenarioContext = {
    topology,
    tenants,
    concurrency,
    requestTimeoutMs: 15_000,
    redisOutageMs: seconds * 1000,
    floodPerSecond,
    log,
  };
  for (const name of chosen) {
    log(`\n> ${name}`);
    for (const tenant of tenants) await signIn(topology, tenant);
    const result = await SCENARIOS[name](context);
    results.push(result);
    log(`  ${result.passed ? "ok" : "BROKEN"}: ${result.notes.join("; ") || result.rule}`);
  }
} catch (error) {
  console.error(`the fault suite stopped: ${error instanceof Error ? error.stack : error}`);
  process.exitCode = 1;
} finally {
  // A process that needs more than its shutdown timeout exits with code 1: worth reporting.
  const kit = topology ? [...topology.apis, ...topology.workers] : [];
  const exits = kit.map((part) => part.process.exited);
  await topology?.stop().catch((error: unknown) => console.error(error));
  for (const [n, exit] of (await Promise.all(exits)).entries()) {
    finalStop[kit[n]?.name ?? String(n)] = exit;
  }
}
const uncleanStops = Object.entries(finalStop).filter(([, exit]) => exit.code !== 0);
if (uncleanStops.length > 0) {
  log(`\nnot stopped cleanly at the end: ${JSON.stringify(Object.fromEntries(uncleanStops))}`);
}

const row = (result: ScenarioResult) => [
  result.name,
  result.passed ? "ok" : "BROKEN",
  String(result.load.requests),
  Object.entries(result.load.statuses)
    .map(([status, count]) => `${status}:${count}`)
    .join(" "),
  String(result.load.serverErrors),
  String(result.load.connectionErrors + result.load.hangs),
  String(result.faultMs),
  result.load.recoveryMs === null ? "-" : String(result.load.recoveryMs),
  result.writes ? `${result.writes.foundInPostgres}/${result.writes.acknowledged}` : "",
  result.mails
    ? `${result.mails.delivered}/${result.mails.expected} dup ${result.mails.duplicates}`
    : "",
  result.latency
    ? `${result.latency.quiet.p50}/${result.latency.quiet.p90} -> ${result.latency.during.p50}/${result.latency.during.p90}`
    : "",
];
const rows = [
  [
    "scenario",
    "rule",
    "requests",
    "statuses",
    "5xx",
    "conn err",
    "fault ms",
    "recovery ms",
    "rows kept",
    "mails",
    "others p50/p90 quiet -> during",
  ],
  ...results.map(row),
];
const widths = (rows[0] ?? []).map((_, column) =>
  Math.max(...rows.map((cells) => (cells[column] ?? "").length)),
);
log(
  `\n${rows.map((cells) => cells.map((cell, n) => cell.padEnd(widths[n] ?? 0)).join("  ")).join("\n")}`,
);

const directory = fileURLToPath(new URL("../bench/results/", import.meta.url));
mkdirSync(directory, { recursive: true });
const file = `${directory}chaos-${new Date().toISOString().slice(0, 10)}.json`;
writeFileSync(
  file,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: { cpus: availableParallelism(), node: process.version },
      options: { redisOutageSeconds: seconds, concurrency, floodPerSecond },
      scenarios: results,
      finalStop,
    },
    null,
    2,
  )}\n`,
);
log(`\nwritten to ${file}`);
if (results.some((result) => !result.passed) || results.length < chosen.length) {
  process.exitCode = 1;
}
