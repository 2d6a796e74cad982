/**
 * The database driver's statement path without HTTP: the batches of the item read (the tenant
 * entry and a row statement of eight columns, both named) through the read pipeline
 * (src/core/database/pg-read-pipeline.ts), 50 at a time, from two builds in alternate runs,
 * each run in a fresh process. Reports batches a second, the driver's CPU per batch (the whole
 * process) and its PostgreSQL backends' CPU per batch. For changes to the statement batch that
 * the HTTP benchmark cannot tell from its noise (a few microseconds of a read's hundred).
 *
 *   npm run build && npx tsx bench/statement-path.ts --against <dir> [--runs 4] [--batches 20000]
 *
 * The builds are compiled kits (a dist/src, as bench/instructions.ts --against takes): this
 * checkout's and `--against`'s, e.g. a copy of an earlier commit's dist/ inside this checkout so
 * that it resolves the same node_modules. Writes bench/results/latest-statement-path.json.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import {
  BENCH_SERVER_URL,
  gitInfo,
  median,
  positiveInteger,
  takeBenchLock,
  writeJson,
} from "./common.js";
import { startCpuAccounting } from "./cpu.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    build: { type: "string" },
    against: { type: "string" },
    runs: { type: "string" },
    batches: { type: "string" },
    concurrency: { type: "string" },
    output: { type: "string" },
    child: { type: "boolean", default: false },
  },
});
const batches = positiveInteger(args.batches, "batches", 20_000);
const concurrency = positiveInteger(args.concurrency, "concurrency", 50);
const APPLICATION_NAME = `kit-statement-path-${process.pid}`;

interface RunResult {
  build: string;
  batchesPerSecond: number;
  driverCpuMicroseconds: number;
  postgresCpuMicroseconds: number;
}

/** One run in this process: warm-up, then `batches` batches, `concurrency` in flight. */
async function measure(build: string): Promise<RunResult> {
  const modules = (name: string) =>
    import(pathToFileURL(resolve(build, "core/database", name)).href);
  const { ReadPipeline } = await modules("pg-read-pipeline.js");
  const { statementName } = await modules("pg-statement-batch.js");
  const silent = () => undefined;
  const logger = { info: silent, warn: silent, error: silent, debug: silent, level: "silent" };
  const reads = new ReadPipeline(
    {
      url: BENCH_SERVER_URL,
      connections: 2,
      applicationName: APPLICATION_NAME,
      waitMs: 5_000,
      answerWithinMs: 15_000,
    },
    logger,
  );
  // The shapes of the read's two statements: a row of transaction settings, then a row of
  // uuid, text, timestamp, integer and boolean columns.
  const enterText =
    "select set_config('kit.a', $1, true), set_config('kit.b', $2, true), set_config('kit.c', $3, true), $4::int as d";
  const rowText =
    "select $1::uuid as id, $1::uuid as tenant_id, $2::text as name, $2::text as description, now() as created_at, now() as updated_at, 1::int as version, true as done";
  const enter = { name: statementName("enter", enterText), text: enterText };
  const row = { name: statementName("row", rowText), text: rowText };
  const id = randomUUID();
  const batch = () =>
    reads.run([
      { ...enter, values: ["a", "b", "c", 1] },
      { ...row, values: [id, "item"] },
    ]);
  const loop = async (count: number) => {
    for (let index = 0; index < count; index++) await batch();
  };
  const inParallel = (total: number) =>
    Promise.all(Array.from({ length: concurrency }, () => loop(Math.ceil(total / concurrency))));
  await inParallel(batches / 4);

  const monitor = new pg.Client({ connectionString: BENCH_SERVER_URL });
  await monitor.connect();
  const pids = (
    await monitor.query<{ pid: number }>(
      "select pid from pg_stat_activity where application_name = $1",
      [APPLICATION_NAME],
    )
  ).rows.map((each) => each.pid);
  const accounting = startCpuAccounting({ backends: pids });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await inParallel(batches);
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const postgres = accounting.stop({ backends: pids });
  await monitor.end();
  await reads.close();
  const done = Math.ceil(batches / concurrency) * concurrency;
  return {
    build,
    batchesPerSecond: Math.round((done / elapsedMs) * 1000),
    driverCpuMicroseconds: Math.round(((cpu.user + cpu.system) / done) * 10) / 10,
    postgresCpuMicroseconds:
      Math.round((((postgres?.seconds.backends ?? 0) * 1e6) / done) * 10) / 10,
  };
}

async function main() {
  if (args.child) {
    process.stdout.write(JSON.stringify(await measure(resolve(args.build ?? "dist/src"))));
    return;
  }
  if (!args.against) throw new Error("--against <dist/src of another build> is required");
  const lock = await takeBenchLock();
  const builds = [resolve(ROOT, "dist/src"), resolve(args.against)];
  const runs: RunResult[] = [];
  const rounds = positiveInteger(args.runs, "runs", 4);
  for (let round = 0; round < rounds; round++) {
    // Alternate which build runs first.
    for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
      const output = execFileSync(
        process.execPath,
        [
          ...process.execArgv,
          fileURLToPath(import.meta.url),
          "--child",
          "--build",
          build,
          "--batches",
          String(batches),
          "--concurrency",
          String(concurrency),
        ],
        { encoding: "utf8" },
      );
      const result = JSON.parse(output) as RunResult;
      runs.push(result);
      console.log(
        `${build}: ${result.batchesPerSecond} batches/s, driver ${result.driverCpuMicroseconds} us, PostgreSQL ${result.postgresCpuMicroseconds} us per batch`,
      );
    }
  }
  await lock.end();
  const summary = Object.fromEntries(
    builds.map((build) => {
      const own = runs.filter((run) => run.build === build);
      return [
        build,
        {
          batchesPerSecond: median(own.map((run) => run.batchesPerSecond)),
          driverCpuMicroseconds: median(own.map((run) => run.driverCpuMicroseconds)),
          postgresCpuMicroseconds: median(own.map((run) => run.postgresCpuMicroseconds)),
        },
      ];
    }),
  );
  console.log(summary);
  const file = resolve(ROOT, args.output ?? "bench/results/latest-statement-path.json");
  writeJson(file, {
    benchmark: "statement path",
    date: new Date().toISOString(),
    git: gitInfo(ROOT),
    node: process.version,
    parameters: { batches, concurrency, rounds, builds },
    summary,
    runs,
  });
  console.log(`written: ${file}`);
}

await main();
