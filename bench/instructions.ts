/**
 * What tracing costs the item read (GET /api/v1/items/:id) while it is off (no OTLP endpoint,
 * the default), or what one build of the kit costs it against another (--against), counted in
 * instructions rather than time: the kit's server runs under valgrind's callgrind, which
 * counts the instructions its process executes (every thread), whatever else loads the
 * machine. Timing on a small shared machine cannot resolve 2%. The counts still move between
 * processes with when V8 optimizes and collects, and with the idle process's timers, whose
 * share grows with valgrind's slowdown: on the 2-core bench machine a repeat's total moved by
 * up to 15%, the instructions without V8's compilers and collector by 1-4%. Read the ratio of
 * the means with the spread of the repeats beside it.
 *
 * Two variants of the built kit (`--kit-dir`, dist/src by default: `npm run build` first):
 *   current          the build as it is
 *   without-tracing  a copy of it (beside it, under dist/, so it resolves the same
 *                    node_modules; removed at the end) with the tracing calls taken out of the
 *                    compiled JS by exact text replacement: every tenant statement runs its
 *                    function directly instead of through traceStatement (pg-driver.js), the
 *                    HTTP tracing plugin is not registered (app.js), and main.js does not call
 *                    startTracing. A pattern not found fails the run.
 * With --against <dir>, another compiled kit (a dist/src holding main.js, e.g. of a worktree of
 * an earlier commit, or a copy of dist/ with one edit) takes the copy's place:
 *   current          the build as it is
 *   against          that build, as it is
 * and the run reports the ratios and their spread, without the tracing goal's verdict.
 * Each variant's server runs as the image runs it (`node <API_COMMAND's flags> main.js`,
 * bench/run.ts's environment: ENVIRONMENT=test, LOG_LEVEL=warn, the bench logins, no Redis,
 * rate limits on but far above the load; --redis puts Redis behind the cache and the rate
 * limiters as bench/run.ts's get-redis does, with a key prefix per server process; extra
 * --kit-env NAME=value pairs come last), plus --single-threaded-gc (MEASUREMENT_NODE_FLAGS),
 * under `valgrind --tool=callgrind --smc-check=all-non-file --instr-atstart=no`: start-up runs
 * uncounted, instrumentation is switched on (callgrind_control -i) before the warm-up.
 * After --warmup requests (10,000: after 3,000, V8's optimizing compilers still took a fifth
 * of a window's instructions, and by how much moved the count by 20% between processes) the
 * counters are zeroed, --requests requests (4,000) are sent, and the counters are dumped:
 * instructions (Ir) per request is the dump's total over the requests. It is also given
 * without V8's compilers and collector (their functions' self costs in the dump, by name),
 * whose share of a window depends on when V8 decides to optimize or collect: the
 * instructions of the code the requests ran.
 * Requests are GETs of the seeded database kit_bench_1000 (seeded by bench/seed.ts when
 * missing), each with its tenant's owner's access token, rotating through --pairs random
 * (tenant, item) pairs (20) at --concurrency requests at a time (4); any answer but 200 with
 * the item asked for fails the run. Few pairs, because the server runs about a hundred times
 * slower under callgrind and the caches on the read path age by the clock (a tenant's record
 * is read again after 5 s, a session's answer after 60 s): rotating through a thousand
 * tenants, every request would find its tenant's copy old, which at full speed a few in a
 * hundred do. Once per variant the same window is also counted without requests (zeroed,
 * left alone as long as the load took, dumped): what the idle process (its timers, work V8
 * left for later) adds to a window, reported beside the figures, not subtracted.
 * The variants alternate, each repeat (--repeats, 3) a fresh server process. Only the
 * server's instructions are counted, not its PostgreSQL backends' (nor Redis's).
 *
 * Prints Ir per request per repeat, mean and spread, and current / without-tracing (or
 * current / against); writes bench/results/instructions-latest.json (--output). Takes
 * bench/run.ts's lock: valgrind keeps a core busy, which would disturb a timed run.
 *
 *   npm run build && npx tsx bench/instructions.ts
 *   npx tsx bench/instructions.ts --kit-dir ../other/dist/src --repeats 5 --requests 8000
 *   npx tsx bench/instructions.ts --against ../earlier/dist/src --redis
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import os from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import type pg from "pg";
import { API_COMMAND } from "../scripts/lib/topology/kit-env.js";
import { createTokenService } from "../src/core/auth/tokens.js";
import { callgrindSelfCosts } from "./callgrind.js";
import {
  BENCH_REDIS_URL,
  gitInfo,
  KIT_BENCH_ENV,
  kitEnvOf,
  machineInfo,
  POOL_SIZE,
  positiveInteger,
  redisKitEnv,
  takeBenchLock,
} from "./common.js";
import { type SeededDatabase, samplePairs, seedBenchDatabase, seededSessions } from "./seed.js";
import { runBenchmark, type ServerProcess, startServer, stopAllServers } from "./servers.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const run = promisify(execFile);

const LISTEN_HOST = "127.0.0.1";
/**
 * Self-modifying code: V8 writes and rewrites its machine code in anonymous memory, which
 * valgrind must check to run the current code. Start-up (loading modules, connecting) runs
 * without instrumentation, several times faster.
 */
const VALGRIND_FLAGS = ["--tool=callgrind", "--smc-check=all-non-file", "--instr-atstart=no"];
/**
 * The collector's work stays on the main thread: valgrind runs one thread at a time, and how
 * much the parallel collector's helpers execute while waiting for each other would depend on
 * its scheduling. The same collections, the same work.
 */
const MEASUREMENT_NODE_FLAGS = ["--single-threaded-gc"];
/** The goal: tracing, while off, adds less than this to the read's instructions. */
const GOAL = 0.02;

/**
 * The tracing calls, as tsc compiles them, and what replaces each in the without-tracing copy.
 * Each `find` must occur exactly once in its file.
 */
const UNTRACED_EDITS: readonly { file: string; find: string; replace: string }[] = [
  {
    // Every tenant statement: traceStatement(name, fn) becomes fn().
    file: "core/database/pg-driver.js",
    find: 'import { traceStatement } from "../observability/tracing.js";\n',
    replace: "const traceStatement = (_name, fn) => fn();\n",
  },
  {
    file: "app.js",
    find: "        await app.register(httpTracingPlugin);\n",
    replace: "",
  },
  {
    file: "main.js",
    find: 'await startTracing(config, { role: "api" });\n',
    replace: "",
  },
];

const { values: args } = parseArgs({
  options: {
    "kit-dir": { type: "string" },
    warmup: { type: "string" },
    requests: { type: "string" },
    repeats: { type: "string" },
    concurrency: { type: "string" },
    pairs: { type: "string" },
    port: { type: "string" },
    "ready-timeout": { type: "string" },
    "valgrind-flag": { type: "string", multiple: true },
    "kit-node-flag": { type: "string", multiple: true },
    "kit-env": { type: "string", multiple: true },
    against: { type: "string" },
    redis: { type: "boolean", default: false },
    output: { type: "string" },
    note: { type: "string" },
  },
});
const kitDir = resolve(args["kit-dir"] ?? join(ROOT, "dist/src"));
/** Another build to compare with instead of the copy without tracing calls. */
const againstDir = args.against === undefined ? undefined : resolve(args.against);
const params = {
  kitDir,
  against: againstDir,
  tenants: 1000,
  warmupRequests: positiveInteger(args.warmup, "warmup", 10_000),
  requests: positiveInteger(args.requests, "requests", 4000),
  repeats: positiveInteger(args.repeats, "repeats", 3),
  concurrency: positiveInteger(args.concurrency, "concurrency", 4),
  pairs: positiveInteger(args.pairs, "pairs", 20),
  readyTimeoutSeconds: positiveInteger(args["ready-timeout"], "ready-timeout", 900),
  valgrindFlags: [...VALGRIND_FLAGS, ...(args["valgrind-flag"] ?? [])],
  nodeFlags: [
    ...API_COMMAND.slice(1, -1),
    ...MEASUREMENT_NODE_FLAGS,
    ...(args["kit-node-flag"] ?? []),
  ],
  kitEnvironment: "test",
  logLevel: "warn",
};
/** Extra environment for every kit server, applied last. */
const kitEnv = kitEnvOf(args["kit-env"]);
const port = positiveInteger(args.port, "port", 3921);
const outputFile = resolve(ROOT, args.output ?? "bench/results/instructions-latest.json");

const log = (line: string) => console.log(line);

/** A build of the kit measured: its name in the lines, tables and report, and its directory. */
interface Variant {
  readonly name: string;
  /** Its compiled src directory (holding main.js), made here if it has to be. */
  directory(): string;
}

/** Two variants, measured alternately; the ratios are the first's over the second's. */
interface Comparison {
  readonly benchmark: string;
  readonly variants: readonly [Variant, Variant];
  /** Whether the tracing goal's verdict applies (the build against itself without tracing). */
  readonly tracingGoal: boolean;
  /** What else the report's parameters record about the variants. */
  readonly parameters: Record<string, unknown>;
}

const current: Variant = { name: "current", directory: () => kitDir };
const withRedis = args.redis ? ", with Redis" : "";
const comparison: Comparison = againstDir
  ? {
      benchmark: `instructions per item read, the build (current) against another build (against)${withRedis}`,
      variants: [current, { name: "against", directory: () => againstDir }],
      tracingGoal: false,
      parameters: { againstGit: gitInfo(againstDir) },
    }
  : {
      benchmark: `instructions per item read, tracing off against the build without its calls${withRedis}`,
      variants: [current, { name: "without-tracing", directory: untracedCopy }],
      tracingGoal: true,
      parameters: { untracedEdits: UNTRACED_EDITS },
    };
const variantNames = comparison.variants.map((variant) => variant.name);
/** "current / without-tracing" or "current / against". */
const ratioName = variantNames.join(" / ");
/** Variant names are padded to this in the printed lines and tables. */
const NAME_WIDTH = Math.max("variant".length, ...variantNames.map((name) => name.length));

interface Request {
  readonly path: string;
  readonly authorization: string;
  readonly itemId: string;
}

/** Instructions executed by the server process (all threads) in a window. */
interface Instructions {
  total: number;
  /** In V8's optimizing compilers (tiering up), by function name. */
  compiler: number;
  /** In V8's garbage collector, by function name. */
  gc: number;
}

interface Window {
  instructions: Instructions;
  seconds: number;
}

interface RepeatResult {
  variant: string;
  repeat: number;
  startSeconds: number;
  warmupSeconds: number;
  /** The measured window: params.requests requests. */
  load: Window & {
    irPerRequest: number;
    /** Without the compilers' and the collector's instructions: the code itself. */
    irPerRequestOfCode: number;
  };
  /** The same length of time without requests (the first repeat of each variant only). */
  idle?: Window & { irPerSecond: number; irPerRequestOfLoad: number };
  repeatSeconds: number;
}

async function main(): Promise<void> {
  if (!existsSync(join(kitDir, "main.js"))) {
    throw new Error(`${kitDir}/main.js is missing: run \`npm run build\` (or pass --kit-dir)`);
  }
  if (againstDir && !existsSync(join(againstDir, "main.js"))) {
    throw new Error(`${againstDir}/main.js is missing: --against wants a built kit's dist/src`);
  }
  const valgrind = (await run("valgrind", ["--version"])).stdout.trim();
  benchLock = await takeBenchLock();
  const startedAt = new Date();
  const database = await seedBenchDatabase({ tenants: params.tenants, log });
  const pairs = await samplePairs(database.ownerUrl, params.pairs);
  const sessions = await seededSessions(database.ownerUrl);

  const workDir = mkdtempSync(join(os.tmpdir(), "kit-instructions-"));
  log(`server logs and callgrind dumps: ${workDir}`);
  const builds = comparison.variants.map((variant) => ({
    variant: variant.name,
    entry: join(variant.directory(), "main.js"),
  }));

  const secretKey = randomBytes(48).toString("base64");
  const results: RepeatResult[] = [];
  for (let repeat = 1; repeat <= params.repeats; repeat++) {
    for (const { variant, entry } of builds) {
      const result = await measureRepeat({
        variant,
        repeat,
        entry,
        database,
        secretKey,
        workDir,
        requestsFor: (server) => signedRequests(server, secretKey, pairs, sessions),
        countIdle: repeat === 1,
      });
      results.push(result);
      log(
        `${variant.padEnd(NAME_WIDTH)} repeat ${repeat}: ${Math.round(result.load.irPerRequest)} Ir/request, ${Math.round(result.load.irPerRequestOfCode)} without compilers and collector` +
          ` (start ${result.startSeconds} s, warm-up ${result.warmupSeconds} s, load ${result.load.seconds} s` +
          (result.idle
            ? `; idle window ${Math.round(result.idle.instructions.total / 1e6)} M Ir = ${Math.round(result.idle.irPerRequestOfLoad)} per request of the load`
            : "") +
          `; repeat ${result.repeatSeconds} s)`,
      );
    }
  }

  const summary = summarize(results);
  printTable(summary);
  const report = {
    benchmark: comparison.benchmark,
    date: startedAt.toISOString(),
    note: args.note,
    git: gitInfo(kitDir),
    machine: {
      ...machineInfo(),
      valgrind,
      note: "instruction counts do not depend on other load on the machine",
    },
    parameters: {
      ...params,
      kitServerEnv: {
        ENVIRONMENT: "test",
        LOG_LEVEL: params.logLevel,
        ...KIT_BENCH_ENV,
        ...(args.redis && {
          REDIS_URL: BENCH_REDIS_URL,
          REDIS_KEY_PREFIX: "bench:<variant>-<repeat>:<uuid>: (one per server process)",
        }),
        ...kitEnv,
      },
      database: database.name,
      ...comparison.parameters,
    },
    summary,
    repeats: results,
  };
  mkdirSync(dirname(outputFile), { recursive: true });
  writeFileSync(outputFile, `${JSON.stringify(report, null, 2)}\n`);
  log(`\nwritten: ${outputFile}`);
}

// ---- the variants ------------------------------------------------------------------------------

/** Copies made by this run, removed at the end (also on error). */
const copies: string[] = [];

/**
 * The built kit copied beside it (so it resolves the same node_modules) with the tracing calls
 * taken out; its src directory.
 */
function untracedCopy(): string {
  const copyDir = mkdtempSync(join(dirname(kitDir), ".instructions-without-tracing-"));
  copies.push(copyDir);
  const target = join(copyDir, basename(kitDir));
  cpSync(kitDir, target, { recursive: true });
  // The build's package.json, beside src/ (app.js imports ../package.json).
  const packageJson = join(dirname(kitDir), "package.json");
  if (existsSync(packageJson)) cpSync(packageJson, join(copyDir, "package.json"));
  for (const edit of UNTRACED_EDITS) {
    const file = join(target, edit.file);
    const text = readFileSync(file, "utf8");
    const found = text.split(edit.find).length - 1;
    if (found !== 1) {
      throw new Error(
        `without-tracing: ${edit.file} holds ${JSON.stringify(edit.find)} ${found} times, not once: the build changed, update UNTRACED_EDITS`,
      );
    }
    writeFileSync(file, text.replace(edit.find, edit.replace));
  }
  return target;
}

// ---- one repeat --------------------------------------------------------------------------------

interface RepeatOptions {
  variant: string;
  repeat: number;
  entry: string;
  database: SeededDatabase;
  secretKey: string;
  workDir: string;
  requestsFor(server: ServerProcess): Promise<Request[]>;
  countIdle: boolean;
}

async function measureRepeat(options: RepeatOptions): Promise<RepeatResult> {
  const began = performance.now();
  const name = `${options.variant}-${options.repeat}`;
  const publicUrl = `http://${LISTEN_HOST}:${port}`;
  const server = await startServer({
    name,
    port,
    command: "valgrind",
    args: [
      ...params.valgrindFlags,
      `--callgrind-out-file=${join(options.workDir, "callgrind.%p")}`,
      process.execPath,
      ...params.nodeFlags,
      options.entry,
    ],
    // An empty working directory: src/main.ts would load a developer's .env from the current one.
    cwd: options.workDir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ENVIRONMENT: "test",
      LOG_LEVEL: params.logLevel,
      HOST: LISTEN_HOST,
      PORT: String(port),
      PUBLIC_URL: publicUrl,
      DATABASE_URL: options.database.appUrl,
      DATABASE_SYSTEM_URL: options.database.systemUrl,
      DATABASE_POOL_SIZE: String(POOL_SIZE),
      SECRET_KEY: options.secretKey,
      ...KIT_BENCH_ENV,
      ...(args.redis && redisKitEnv(name)),
      ...kitEnv,
    },
    logDir: options.workDir,
    readyTimeoutMs: params.readyTimeoutSeconds * 1000,
  });
  try {
    const startSeconds = secondsSince(began);
    // Signed now, not before the start: under valgrind it may take minutes, and tokens live 15.
    const requests = await options.requestsFor(server);
    await callgrind(server.pid, "-i", "on");
    let phase = performance.now();
    const agent = new http.Agent({ keepAlive: true, maxSockets: params.concurrency });
    await sendRequests(server.baseUrl, agent, requests, 0, params.warmupRequests);
    const warmupSeconds = secondsSince(phase);

    await callgrind(server.pid, "-z");
    phase = performance.now();
    await sendRequests(server.baseUrl, agent, requests, params.warmupRequests, params.requests);
    const loadSeconds = secondsSince(phase);
    const loadInstructions = await dumpInstructions(server.pid, options.workDir);
    const load = {
      instructions: loadInstructions,
      seconds: loadSeconds,
      irPerRequest: loadInstructions.total / params.requests,
      irPerRequestOfCode:
        (loadInstructions.total - loadInstructions.compiler - loadInstructions.gc) /
        params.requests,
    };

    let idle: RepeatResult["idle"];
    if (options.countIdle) {
      // The client's connections closed first, so their closing is not in the idle window.
      agent.destroy();
      await sleep(2_000);
      await callgrind(server.pid, "-z");
      phase = performance.now();
      await sleep(loadSeconds * 1000);
      const instructions = await dumpInstructions(server.pid, options.workDir);
      const seconds = secondsSince(phase);
      idle = {
        instructions,
        seconds,
        irPerSecond: instructions.total / seconds,
        irPerRequestOfLoad: instructions.total / params.requests,
      };
    }
    agent.destroy();
    return {
      variant: options.variant,
      repeat: options.repeat,
      startSeconds,
      warmupSeconds,
      load,
      ...(idle ? { idle } : {}),
      repeatSeconds: secondsSince(began),
    };
  } finally {
    await server.stop();
  }
}

/**
 * One callgrind_control command to the server's valgrind. vgdb finds the server's pipes by
 * names made of the pid, the user (LOGNAME or USER) and the host (HOST or HOSTNAME), which
 * valgrind took from the server's environment: no user, and HOST the kit's listen address.
 */
async function callgrind(pid: number, ...command: string[]): Promise<void> {
  const { stdout, stderr } = await run("callgrind_control", [...command, String(pid)], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: LISTEN_HOST },
  });
  // vgdb says on stderr which command it sends, and there what went wrong.
  if (!stdout.includes(`PID ${pid}`) || /error|fail/i.test(stderr)) {
    throw new Error(`callgrind_control ${command.join(" ")} ${pid}: ${stdout.trim()} ${stderr}`);
  }
}

/**
 * Dumps the server's counters and reads the instructions of the new dump file (one, or one per
 * thread with --valgrind-flag=--separate-threads=yes).
 */
async function dumpInstructions(pid: number, workDir: string): Promise<Instructions> {
  const dumps = () =>
    new Set(readdirSync(workDir).filter((file) => file.startsWith(`callgrind.${pid}.`)));
  const before = dumps();
  await callgrind(pid, "-d");
  const added = [...dumps()].filter((file) => !before.has(file));
  if (added.length === 0) throw new Error(`callgrind_control -d ${pid}: no new dump file`);
  return instructionsOf(added.sort().map((file) => join(workDir, file)));
}

/**
 * V8's optimizing compilers and its garbage collector, by the (demangled) names of their
 * functions in node's binary. How much of either lands in a window depends on when V8 decides
 * to optimize a function again or to collect, so they are reported apart as well.
 */
const COMPILER_FUNCTIONS =
  /v8::internal::(?:compiler|maglev|baseline)::|Turbofan|OptimizedCompil|OptimizingCompile|Deoptimizer|Runtime_CompileOptimized|v8::internal::Compiler::/;
const GC_FUNCTIONS =
  /Scaveng|MarkCompact|Marking|Sweeper|Evacuat|heap::base::|v8::internal::Heap::|GCTracer|RememberedSet|MemoryReducer|PointersUpdat|MemoryAllocator|IterateObjectCache|RootVisitor|SizeFromMap/;

/**
 * A callgrind dump's instructions (Ir), of its file (or its threads' files): the total, and
 * the compilers' and the collector's, from every function's self cost read from the dump
 * itself (bench/callgrind.ts). The self costs add up to the dump's totals line by
 * construction; the cost of a function still on a thread's stack at the dump (a compile job on
 * another thread) is counted once, in the function that ran it, not again in its callers.
 */
function instructionsOf(files: readonly string[]): Instructions {
  const costs = callgrindSelfCosts(files.map((file) => readFileSync(file, "utf8")));
  const file = files.join(", ");
  if (costs.totals === undefined) throw new Error(`${file}: no totals line`);
  // Callgrind writes its totals line as the sum of the cost lines it wrote: a difference is a
  // dump this reads wrong.
  if (costs.total !== costs.totals) {
    throw new Error(
      `${file}: the self costs add up to ${costs.total} Ir, the totals line says ${costs.totals}`,
    );
  }
  let compiler = 0;
  let gc = 0;
  for (const [name, value] of costs.byFunction) {
    if (COMPILER_FUNCTIONS.test(name)) compiler += value;
    else if (GC_FUNCTIONS.test(name)) gc += value;
  }
  return { total: costs.total, compiler, gc };
}

// ---- requests ----------------------------------------------------------------------------------

/** The item read of each pair, with an access token of its tenant's seeded owner and session. */
async function signedRequests(
  server: ServerProcess,
  secretKey: string,
  pairs: readonly { tenantId: string; itemId: string }[],
  sessions: ReadonlyMap<string, { userId: string; sessionId: string }>,
): Promise<Request[]> {
  const tokens = createTokenService({
    secretKey,
    issuer: server.baseUrl,
    audience: `${server.baseUrl}/api`,
  });
  const byTenant = new Map<string, string>();
  for (const { tenantId } of pairs) {
    if (byTenant.has(tenantId)) continue;
    const session = sessions.get(tenantId);
    if (!session) throw new Error(`tenant ${tenantId} has no seeded live session`);
    byTenant.set(
      tenantId,
      await tokens.signAccessToken({ sub: session.userId, tid: tenantId, sid: session.sessionId }),
    );
  }
  return pairs.map(({ tenantId, itemId }) => ({
    path: `/api/v1/items/${itemId}`,
    authorization: `Bearer ${byTenant.get(tenantId)}`,
    itemId,
  }));
}

/**
 * Sends `count` requests, params.concurrency at a time, taking them in turn from `requests`
 * starting at `offset`; fails on any answer but 200 with the item asked for.
 */
async function sendRequests(
  baseUrl: string,
  agent: http.Agent,
  requests: readonly Request[],
  offset: number,
  count: number,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < count; index = next++) {
      const request = requests[(offset + index) % requests.length];
      if (!request) throw new Error("no requests");
      const { status, body } = await get(baseUrl, agent, request);
      if (status !== 200)
        throw new Error(`${request.path}: status ${status}: ${body.slice(0, 300)}`);
      const id = (JSON.parse(body) as { id?: unknown }).id;
      if (id !== request.itemId) throw new Error(`${request.path}: answered item ${String(id)}`);
    }
  };
  await Promise.all(Array.from({ length: params.concurrency }, worker));
}

function get(
  baseUrl: string,
  agent: http.Agent,
  request: Request,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(
        `${baseUrl}${request.path}`,
        { agent, headers: { authorization: request.authorization } },
        (response) => {
          let body = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => {
            body += chunk;
          });
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
          response.on("error", reject);
        },
      )
      .on("error", reject);
  });
}

// ---- report ------------------------------------------------------------------------------------

/** A figure over the repeats: each, mean, min, max and (max - min) / mean. */
interface Series {
  perRepeat: number[];
  mean: number;
  min: number;
  max: number;
  spread: number;
}

function series(values: readonly number[]): Series {
  const average = mean(values);
  return {
    perRepeat: values.map(Math.round),
    mean: Math.round(average),
    min: Math.round(Math.min(...values)),
    max: Math.round(Math.max(...values)),
    spread: round4((Math.max(...values) - Math.min(...values)) / average),
  };
}

interface VariantSummary {
  /** Ir per request: everything the server executed in the window, over the requests. */
  irPerRequest: Series;
  /** The same without V8's compilers and collector: the code the requests ran. */
  irPerRequestOfCode: Series;
  compilerIrPerRequest: number[];
  gcIrPerRequest: number[];
  /** The window without requests (first repeat), beside the load's. */
  idle?: {
    seconds: number;
    instructions: Instructions;
    irPerSecond: number;
    /** Its instructions over the load's request count, as if they were the load's. */
    irPerRequestOfLoad: number;
    /** That over the variant's mean Ir per request. */
    shareOfLoad: number;
  };
}

function summarizeVariant(results: readonly RepeatResult[], variant: string): VariantSummary {
  const own = results.filter((result) => result.variant === variant);
  const total = series(own.map((result) => result.load.irPerRequest));
  const idle = own.find((result) => result.idle)?.idle;
  const perRequest = (value: number) => Math.round(value / params.requests);
  return {
    irPerRequest: total,
    irPerRequestOfCode: series(own.map((result) => result.load.irPerRequestOfCode)),
    compilerIrPerRequest: own.map((result) => perRequest(result.load.instructions.compiler)),
    gcIrPerRequest: own.map((result) => perRequest(result.load.instructions.gc)),
    ...(idle && {
      idle: {
        seconds: idle.seconds,
        instructions: idle.instructions,
        irPerSecond: Math.round(idle.irPerSecond),
        irPerRequestOfLoad: Math.round(idle.irPerRequestOfLoad),
        shareOfLoad: round4(idle.irPerRequestOfLoad / total.mean),
      },
    }),
  };
}

/**
 * The first variant's figure over the second's (ratioName): of the means, paired by repeat (run
 * one after the other), extremes.
 */
function ratioOf(
  results: readonly RepeatResult[],
  variants: Readonly<Record<string, VariantSummary>>,
  figure: (result: RepeatResult) => number,
  seriesOf: (entry: VariantSummary) => Series,
) {
  const [first, second] = variantNames.map((name) => {
    const entry = variants[name];
    if (!entry) throw new Error(`no summary of ${name}`);
    return {
      repeats: results.filter((result) => result.variant === name),
      series: seriesOf(entry),
    };
  });
  if (!first || !second) throw new Error("a comparison has two variants");
  const paired = first.repeats.map((result, index) => {
    const other = second.repeats[index];
    return round4(figure(result) / (other ? figure(other) : Number.NaN));
  });
  return {
    ofMeans: round4(first.series.mean / second.series.mean),
    pairedByRepeat: paired,
    /** The widest the ratio can be over any two repeats. */
    extremes: [
      round4(first.series.min / second.series.max),
      round4(first.series.max / second.series.min),
    ],
  };
}

function summarize(results: readonly RepeatResult[]) {
  const variants = Object.fromEntries(
    variantNames.map((name) => [name, summarizeVariant(results, name)]),
  );
  const ratio = ratioOf(
    results,
    variants,
    (result) => result.load.irPerRequest,
    (entry) => entry.irPerRequest,
  );
  const ratioOfCode = ratioOf(
    results,
    variants,
    (result) => result.load.irPerRequestOfCode,
    (entry) => entry.irPerRequestOfCode,
  );
  return {
    variants,
    /** The first variant's Ir per request over the second's (ratioName). */
    ratio,
    /** The same without V8's compilers and collector. */
    ratioOfCode,
    ...(comparison.tracingGoal && {
      goal: {
        goal: `tracing off adds < ${GOAL * 100}% instructions per item read (ratio of the means)`,
        value: round4(ratio.ofMeans - 1),
        met: ratio.ofMeans - 1 < GOAL,
      },
    }),
  };
}

function printTable(summary: ReturnType<typeof summarize>): void {
  const variants = Object.entries(summary.variants);
  const table = (title: string, figure: (entry: VariantSummary) => Series) => {
    log(`\n${title} (${ratioName})`);
    log(
      `| ${"variant".padEnd(NAME_WIDTH)} | ${Array.from({ length: params.repeats }, (_, index) => `repeat ${index + 1}`.padStart(10)).join(" | ")} |       mean |  min-max spread |`,
    );
    for (const [variant, variantSummary] of variants) {
      const entry = figure(variantSummary);
      const spread = `${entry.max - entry.min} (${(entry.spread * 100).toFixed(2)}%)`;
      log(
        `| ${variant.padEnd(NAME_WIDTH)} | ${entry.perRepeat.map((value) => String(value).padStart(10)).join(" | ")} | ${String(entry.mean).padStart(10)} | ${spread.padStart(15)} |`,
      );
    }
  };
  table(
    `Instructions (Ir) per request, server process, ${params.requests} requests per repeat`,
    (entry) => entry.irPerRequest,
  );
  table(
    "The same without V8's optimizing compilers and garbage collector",
    (entry) => entry.irPerRequestOfCode,
  );
  for (const [variant, entry] of variants) {
    log(
      `${variant}: compilers ${entry.compilerIrPerRequest.join(", ")} and collector ${entry.gcIrPerRequest.join(", ")} Ir/request by repeat`,
    );
  }
  for (const [variant, { idle }] of variants) {
    if (!idle) continue;
    log(
      `${variant} idle (no requests, ${idle.seconds} s, first repeat): ${idle.instructions.total} Ir, ${idle.irPerSecond} Ir/s; over ${params.requests} requests ${idle.irPerRequestOfLoad} Ir/request, ${(idle.shareOfLoad * 100).toFixed(2)}% of the load's (included in the figures above, not subtracted)`,
    );
  }
  for (const [name, ratio] of [
    ["Ir", summary.ratio],
    ["Ir without compilers and collector", summary.ratioOfCode],
  ] as const) {
    log(
      `${ratioName}, ${name}: ${ratio.ofMeans} (of the means); paired by repeat ${ratio.pairedByRepeat.join(", ")}; extremes ${ratio.extremes.join("-")}`,
    );
  }
  if (summary.goal) {
    log(`${summary.goal.met ? "MET    " : "MISSED "} ${summary.goal.goal}: ${summary.goal.value}`);
  }
}

// ---- helpers -----------------------------------------------------------------------------------

/** Holds the benchmarks' advisory lock for the whole run (released when it disconnects). */
let benchLock: pg.Client | undefined;

const secondsSince = (since: number) => Math.round((performance.now() - since) / 100) / 10;
const mean = (values: readonly number[]) =>
  values.reduce((sum, value) => sum + value, 0) / (values.length || Number.NaN);
const round4 = (value: number) => Math.round(value * 10_000) / 10_000;

// ---- lifecycle ---------------------------------------------------------------------------------

const cleanUp = async () => {
  await stopAllServers();
  for (const copy of copies.splice(0)) rmSync(copy, { recursive: true, force: true });
  await benchLock?.end().catch(() => {});
};

await runBenchmark(main, cleanUp);
