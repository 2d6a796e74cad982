/**
 * The tenant read-path benchmark (`npm run bench`, which builds first).
 *
 * Measures, in one run on one machine and the same database, with autocannon:
 *   baseline   bare Fastify + postgres.js, same item lookup, no auth, no RLS (bench/baseline-server.ts)
 *   baseline-list  the same bare server's page of 20 items (same keyset query, same JSON names);
 *              the list targets are measured against it, everything else against baseline
 *   get        the kit's GET /api/v1/items/:id with a valid access token of a live session
 *   get-traced the same with tracing on as production would run it: OTLP/HTTP to a sink the
 *              bench runs (it reads and drops what it is sent), parentbased_traceidratio at 0.1;
 *              the gap to get is what tracing costs
 *   get-logged the same with LOG_LEVEL=info and REQUEST_LOG=all, production's defaults: one JSON
 *              line per request, written to the server's log file; the gap to get is the line's cost
 *   get-reference  the same item read served by another build of the kit (--reference-entry: its
 *              dist/src/main.js, e.g. a worktree of an earlier commit), tracing off; get's gap to
 *              it is what the commits between the two cost on this path; with
 *              --reference-node-flag or --reference-env, the same build (or another) under
 *              other V8 flags or another environment (e.g. the allocator's). One run's pair
 *              carries a bias of up to 18% between its two servers over all its rounds: run
 *              a comparison twice, the builds swapped (--kit-entry), and take the geometric
 *              mean of the two
 *   get-unguarded  the same with the session check switched off (bench/unguarded-server.ts: the
 *              same build, a session guard that lets every token through); the gap to get is
 *              the cost of the per-request session check
 *   get-unchecked  the same kit with only the item read declared signedIn instead of
 *              requirePermission (bench/unchecked-server.ts: same build, every module); the gap
 *              to get is the permission check
 *   list       the kit's GET /api/v1/items?limit=20 at 1,000 tenants x 100 items
 *   list-10k   the same list at 10,000 tenants x 100 items (left out with --quick)
 *   get-redis  GET /api/v1/items/:id with Redis behind the cache and the rate limiters
 *   get-redis-unlimited  the same with RATE_LIMIT_ENABLED=false (the limiters' cost is the gap)
 *   post       the kit's POST /api/v1/items, creating items in the sampled tenants (one insert,
 *              one Sync); its rows are deleted after the run. Its ratios to the baseline compare
 *              a write with a read: read them as its own throughput and p99 at 50 connections
 * The list targets rotate through the same number of random tenants (--list-tenants, 1,000) at
 * both sizes, so they differ only in the size of the data. Every seeded tenant has one owner
 * with one live session (bench/seed.ts), and each tenant's tokens are signed for that user and
 * session, so the kit's session check lets them through.
 * The targets run in paired rounds (every target once per round, order reversed on alternate
 * rounds), after a warm-up. Each measured load follows a short unmeasured one on the same
 * target (--settle, 2 s; 0 leaves it out), so that every server starts its measured seconds
 * from the same state: the targets share servers (baseline and baseline-list one, get, list and
 * post another, get-redis its own), so without it some servers come to their round straight
 * from the previous one and others from a spell of a minute, and on a virtual machine a page
 * left untouched that long costs about 1.5 us to touch again against 0.01 straight after
 * (bench/machine-memory.ts): a first second the bench would charge to one target and not
 * another. The measured seconds still begin the load as a burst on the server's warm state.
 * Requests rotate through many (tenant, item) pairs and tenants. Any answer other than 200, any
 * socket error or timeout fails the run. Before the load, another tenant's token must get 404
 * and a token of a session that does not exist 401 from get and get-reference alike (so the two
 * have served the same requests), and the latter 200 from get-unguarded.
 *
 * The kit runs as built, with the image's node flags (API_COMMAND in
 * scripts/lib/topology/kit-env.ts, recorded as parameters.imageNodeFlags in the results;
 * get-unguarded loads the same build's modules through its own entry, run with tsx), with
 * ENVIRONMENT=test: production and staging demand Redis, SMTP, CORS origins and a front-end
 * URL, and test changes nothing on the read path. LOG_LEVEL is warn by default (no
 * per-request lines; --log-level info measures them). Rate limits stay on, far above the load
 * (KIT_BENCH_ENV in bench/common.ts), counted in the process
 * except in the get-redis targets (--kit-env REDIS_URL=... puts every target on Redis). The
 * kit connects with two logins without table privileges of their own, as in production (the
 * tenant pool's may assume app_tenant only, the system pool's app_system); the baseline
 * connects as the owner.
 *
 * On a shared machine: each round waits for the machine to be quiet, CPU time is accounted per
 * part (load generator, server, its PostgreSQL backends, everything else) from /proc, and a round
 * in which other processes took more than --max-other-load of the machine is measured again.
 * Each server's resident memory is read idle (left without requests for --idle-seconds, 15, as
 * V8 returns start-up memory only after about 8 quiet seconds) before and after the load, at
 * the end of each round, and at its peak.
 *
 * Writes bench/results/latest.json and prints a table.
 *
 *   npm run bench
 *   npm run bench -- --quick --duration 5 --rounds 2
 */
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import pg from "pg";
import { API_COMMAND } from "../scripts/lib/topology/kit-env.js";
import { createTokenService } from "../src/core/auth/tokens.js";
import {
  gitInfo,
  KIT_BENCH_ENV,
  kitEnvOf,
  machineInfo,
  median,
  nonNegativeSeconds,
  POOL_SIZE,
  positiveInteger,
  redisKitEnv,
  takeBenchLock,
  writeJson,
} from "./common.js";
import { type CpuUsage, machineBusyShare, memoryOf, startCpuAccounting } from "./cpu.js";
import {
  type SeededDatabase,
  samplePairs,
  seedBenchDatabase,
  seededSessions,
  withClient as withSeedClient,
} from "./seed.js";
import { runBenchmark, type ServerProcess, startServer, stopAllServers, tail } from "./servers.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const LIST_LIMIT = 20;
/** The share of traces get-traced keeps (OTEL_TRACES_SAMPLER_ARG). */
const TRACED_RATIO = 0.1;
/** Access tokens live 15 minutes; a target's are signed again once they are this old. */
const TOKEN_RENEWAL_MS = 10 * 60_000;
/**
 * The application_name of the kit's pool connections (src/core/database/pg-driver.ts); its read
 * pipeline's connections add `-reads` (pg-read-pipeline.ts).
 */
const KIT_APPLICATION_NAME = "agency-kit";

/**
 * get and get-unguarded are the same item read, with and without the per-request session check
 * (bench/unguarded-server.ts): the difference is the cost of that check.
 * get-redis and get-redis-unlimited are the item read with Redis behind the cache and the
 * limiters (as in production), with and without the general rate limits: the difference is the
 * cost of the per-IP and per-tenant limiters and of the cached tenant lookup they use.
 */
const TARGETS = [
  "baseline",
  "baseline-list",
  "get",
  "get-traced",
  "get-logged",
  "get-reference",
  "get-unguarded",
  "get-unchecked",
  "list",
  "list-10k",
  "get-redis",
  "get-redis-unlimited",
  "post",
] as const;
/** The name of every item the post target creates; they are deleted before and after a run. */
const POSTED_ITEM_NAME = "kit-bench post";
type TargetName = (typeof TARGETS)[number];
/** Target names are padded to this in the printed lines and tables. */
const NAME_WIDTH = Math.max(...TARGETS.map((name) => name.length));

const { values: args } = parseArgs({
  options: {
    tenants: { type: "string" },
    "large-tenants": { type: "string" },
    quick: { type: "boolean", default: false },
    duration: { type: "string" },
    warmup: { type: "string" },
    rounds: { type: "string" },
    connections: { type: "string" },
    pairs: { type: "string" },
    "list-tenants": { type: "string" },
    "log-level": { type: "string", default: "warn" },
    targets: { type: "string" },
    port: { type: "string" },
    output: { type: "string" },
    "cpu-prof": { type: "boolean", default: false },
    "kit-entry": { type: "string" },
    "reference-entry": { type: "string" },
    rate: { type: "string" },
    "kit-env": { type: "string", multiple: true },
    "kit-node-flag": { type: "string", multiple: true },
    "reference-node-flag": { type: "string", multiple: true },
    "reference-env": { type: "string", multiple: true },
    note: { type: "string" },
    "max-other-load": { type: "string" },
    "round-retries": { type: "string" },
    "quiet-wait": { type: "string" },
    "idle-seconds": { type: "string" },
    settle: { type: "string" },
  },
});

const params = {
  tenants: positiveInteger(args.tenants, "tenants", 1000),
  largeTenants: positiveInteger(args["large-tenants"], "large-tenants", 10_000),
  itemsPerTenant: 100,
  quick: args.quick,
  durationSeconds: positiveInteger(args.duration, "duration", 10),
  warmupSeconds: positiveInteger(args.warmup, "warmup", 5),
  rounds: positiveInteger(args.rounds, "rounds", 3),
  connections: positiveInteger(args.connections, "connections", 50),
  /**
   * Requests per second for every target instead of as many as the server takes (--rate). On a
   * machine others load, the CPU per request at a rate each server keeps up with compares
   * builds: at saturation it also moves with how many requests share each wake-up.
   */
  rate: args.rate === undefined ? undefined : positiveInteger(args.rate, "rate", 1),
  pairs: positiveInteger(args.pairs, "pairs", 1000),
  /**
   * How many tenants the list targets rotate through, at both sizes (default 1,000), so the
   * two differ only in the size of the data; "all" rotates through every tenant, which also
   * measures the tenant cache and shared_buffers under 10,000 active tenants.
   */
  listTenants:
    args["list-tenants"] === "all"
      ? ("all" as const)
      : positiveInteger(args["list-tenants"], "list-tenants", 1000),
  listLimit: LIST_LIMIT,
  poolSize: POOL_SIZE,
  kitEnvironment: "test",
  logLevel: args["log-level"],
  cpuProfile: args["cpu-prof"],
  kitEntry: args["kit-entry"] ?? "dist/src/main.js",
  /**
   * On a shared machine: a round in which other processes took more than this share of the
   * machine is measured again (up to roundRetries times, then kept and flagged), and each round
   * waits up to quietWaitSeconds for the machine to be this quiet before it starts.
   */
  maxOtherLoad: Number(args["max-other-load"] ?? 0.1),
  roundRetries: Number(args["round-retries"] ?? 2),
  quietWaitSeconds: Number(args["quiet-wait"] ?? 120),
  /** An unmeasured load of each target right before its measured one (0: none; see above). */
  settleSeconds: nonNegativeSeconds(args.settle, "settle", 2),
  /** How long the servers are left without requests before their idle memory is read (0: not). */
  idleSeconds: Number(args["idle-seconds"] ?? 15),
  /** The image's node flags (API_COMMAND's), recorded so that a results file names them. */
  imageNodeFlags: API_COMMAND.slice(1, -1),
  /** Extra flags for the kit's node (after the image's own), for experiments with V8's heap. */
  kitNodeFlags: args["kit-node-flag"] ?? [],
  /** Flags for get-reference's node only, after the kit's: measures a flag against the build. */
  referenceNodeFlags: args["reference-node-flag"] ?? [],
  /** Extra environment for the kit (NAME=value), for experiments. */
  kitEnv: kitEnvOf(args["kit-env"]),
  /** Environment for get-reference's process only, after the kit's: measures a setting. */
  referenceEnv: kitEnvOf(args["reference-env"]),
};
const selected = new Set<TargetName>(
  (args.targets?.split(",").map((name) => name.trim()) ?? [...TARGETS]).map((name) => {
    if (!(TARGETS as readonly string[]).includes(name)) {
      throw new Error(`--targets: unknown target "${name}" (known: ${TARGETS.join(", ")})`);
    }
    return name as TargetName;
  }),
);
if (params.quick) selected.delete("list-10k");
const basePort = positiveInteger(args.port, "port", 3901);
/** The built kit; another build (an experiment) can be measured with --kit-entry. */
const KIT_ENTRY = resolve(ROOT, args["kit-entry"] ?? "dist/src/main.js");
/** The build get-reference runs (--reference-entry). */
const REFERENCE_ENTRY = args["reference-entry"] && resolve(ROOT, args["reference-entry"]);
const outputFile = resolve(ROOT, args.output ?? "bench/results/latest.json");

/** One load target: what autocannon sends, spread over many tenants. */
interface Target {
  readonly name: TargetName;
  readonly description: string;
  readonly server: ServerProcess;
  /** Where the server's PostgreSQL backends are: database and application_name. */
  readonly backends: { database: string; applicationName: string };
  readonly requests: autocannon.Request[];
  /**
   * Signs the target's access tokens again when they are getting old (they live 15 minutes,
   * and a run that waits for a quiet machine can last longer), replacing `requests` in place.
   */
  renewTokens?(): Promise<void>;
  /** Checks one answer before the load starts. */
  check(status: number, body: string, request: autocannon.Request): string | undefined;
}

interface RunResult {
  target: TargetName;
  /**
   * "settle": the unmeasured load right before a measured one; "discarded": a round measured
   * again because other processes loaded the machine.
   */
  phase: "warmup" | "settle" | "measure" | "discarded";
  round: number;
  attempt?: number;
  /** Other processes took more than maxOtherLoad of the machine (kept after the last retry). */
  noisy?: boolean;
  requestsPerSecond: number;
  completed: number;
  durationSeconds: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /**
   * Per second of the run, by when each answer arrived: how many, and their p50 and p99 (ms).
   * Shows whether a target's tail is spread over the run or made in a burst (its first second
   * after an idle pause, a collection).
   */
  latencyBySecond: { answers: number; p50: number; p99: number }[];
  /** CPU used during the run, by part, and per completed request. */
  cpu?: CpuUsage & { microsecondsPerRequest: Record<string, number> };
  /** The server's resident memory at the end of the run, and its peak so far (MB). */
  serverMemory?: { rssMb: number; peakMb: number };
  autocannon: {
    requestsAverage: number;
    latencyP50: number;
    latencyP99: number;
    non2xx: number;
    errors: number;
    timeouts: number;
    statusCodes: Record<string, number>;
  };
}

const log = (line: string) => console.log(line);

async function main(): Promise<void> {
  if (!existsSync(KIT_ENTRY)) {
    throw new Error(`${KIT_ENTRY} is missing: run \`npm run build\` (npm run bench does)`);
  }
  if (selected.has("get-reference") && !(REFERENCE_ENTRY && existsSync(REFERENCE_ENTRY))) {
    throw new Error("get-reference: --reference-entry names no built main.js");
  }
  benchLock = await takeBenchLock();
  const startedAt = new Date();
  const loadAtStart = os.loadavg();

  // ---- databases ------------------------------------------------------------------------
  const small = await seedBenchDatabase({ tenants: params.tenants, log });
  const large = selected.has("list-10k")
    ? await seedBenchDatabase({ tenants: params.largeTenants, log })
    : undefined;

  // ---- servers ---------------------------------------------------------------------------
  // An empty working directory: src/main.ts would load a developer's .env from the current one.
  const workDir = mkdtempSync(join(os.tmpdir(), "kit-bench-"));
  log(`server logs: ${workDir}`);
  const servers: Partial<
    Record<
      | "baseline"
      | "kit"
      | "kitTraced"
      | "kitLogged"
      | "kitReference"
      | "kitUnguarded"
      | "kitUnchecked"
      | "kitLarge"
      | "kitRedis"
      | "kitRedisUnlimited",
      ServerProcess
    >
  > = {};
  const secretKey = randomBytes(48).toString("base64");
  const kitServer = (
    name: string,
    port: number,
    database: SeededDatabase,
    extraEnv: Record<string, string> = {},
    entry: readonly string[] = [KIT_ENTRY],
    nodeFlags: readonly string[] = [],
    ownEnv: Record<string, string> = {},
  ) => {
    const publicUrl = `http://127.0.0.1:${port}`;
    return startServer({
      name,
      port,
      command: process.execPath,
      args: [
        ...(params.cpuProfile ? ["--cpu-prof", `--cpu-prof-dir=${join(workDir, "profiles")}`] : []),
        // The image's node flags (API_COMMAND between `node` and its entry), as npm start has them.
        ...params.imageNodeFlags,
        ...params.kitNodeFlags,
        ...nodeFlags,
        ...entry,
      ],
      cwd: workDir,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ENVIRONMENT: "test",
        LOG_LEVEL: params.logLevel,
        HOST: "127.0.0.1",
        PORT: String(port),
        PUBLIC_URL: publicUrl,
        DATABASE_URL: database.appUrl,
        DATABASE_SYSTEM_URL: database.systemUrl,
        DATABASE_POOL_SIZE: String(POOL_SIZE),
        SECRET_KEY: secretKey,
        ...KIT_BENCH_ENV,
        ...extraEnv,
        ...params.kitEnv,
        ...ownEnv,
      },
      logDir: workDir,
    });
  };
  if (selected.has("baseline") || selected.has("baseline-list")) {
    servers.baseline = await startServer({
      name: "baseline",
      port: basePort,
      command: process.execPath,
      args: [
        "--import",
        "tsx",
        join(ROOT, "bench/baseline-server.ts"),
        "--port",
        String(basePort),
        "--database-url",
        small.ownerUrl,
        "--pool-size",
        String(POOL_SIZE),
      ],
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      logDir: workDir,
    });
  }
  if (selected.has("get") || selected.has("list") || selected.has("post")) {
    servers.kit = await kitServer("kit", basePort + 1, small);
  }
  if (selected.has("get-traced")) {
    // Tracing as production runs it, one trace in ten kept, exported to a local sink.
    const sink = await startTraceSink();
    servers.kitTraced = await kitServer("kit-traced", basePort + 7, small, {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
      OTEL_SERVICE_NAME: "kit-bench",
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: String(TRACED_RATIO),
    });
  }
  if (selected.has("get-logged")) {
    // Production's log defaults: a completion line for every request, at info.
    servers.kitLogged = await kitServer("kit-logged", basePort + 9, small, {
      LOG_LEVEL: "info",
      REQUEST_LOG: "all",
    });
  }
  if (selected.has("get-reference") && REFERENCE_ENTRY) {
    servers.kitReference = await kitServer(
      "kit-reference",
      basePort + 8,
      small,
      {},
      [REFERENCE_ENTRY],
      params.referenceNodeFlags,
      params.referenceEnv,
    );
  }
  if (selected.has("get-unguarded")) {
    // The same build as the kit's (the modules beside KIT_ENTRY), started by a bench-only entry
    // that replaces the session guard; tsx is resolved here, as the server runs in workDir.
    servers.kitUnguarded = await kitServer("kit-unguarded", basePort + 5, small, {}, [
      "--import",
      import.meta.resolve("tsx"),
      join(ROOT, "bench/unguarded-server.ts"),
      "--kit-dir",
      dirname(KIT_ENTRY),
    ]);
  }
  if (selected.has("get-unchecked")) {
    // The same build and modules again, with only the item read declared signedIn instead of
    // requirePermission("items", "read"): the pair measures the permission check.
    servers.kitUnchecked = await kitServer("kit-unchecked", basePort + 6, small, {}, [
      "--import",
      import.meta.resolve("tsx"),
      join(ROOT, "bench/unchecked-server.ts"),
      "--kit-dir",
      dirname(KIT_ENTRY),
    ]);
  }
  if (large) servers.kitLarge = await kitServer("kit-10k", basePort + 2, large);
  if (selected.has("get-redis")) {
    servers.kitRedis = await kitServer("kit-redis", basePort + 3, small, redisKitEnv("limited"));
  }
  if (selected.has("get-redis-unlimited")) {
    servers.kitRedisUnlimited = await kitServer("kit-redis-unlimited", basePort + 4, small, {
      ...redisKitEnv("unlimited"),
      RATE_LIMIT_ENABLED: "false",
    });
  }

  // ---- fixtures --------------------------------------------------------------------------
  const pairs = await samplePairs(small.ownerUrl, params.pairs);
  const sessions = new Map([
    ...(await seededSessions(small.ownerUrl)),
    ...(large ? await seededSessions(large.ownerUrl) : []),
  ]);
  const targets: Target[] = [];
  const tokenService = (server: ServerProcess) =>
    createTokenService({ secretKey, issuer: server.baseUrl, audience: `${server.baseUrl}/api` });
  /** One access token per tenant, for its seeded owner and that owner's live session. */
  const tokensFor = async (server: ServerProcess, tenantIds: readonly string[]) => {
    const tokens = tokenService(server);
    const byTenant = new Map<string, string>();
    for (const tid of tenantIds) {
      if (byTenant.has(tid)) continue;
      const session = sessions.get(tid);
      if (!session) throw new Error(`tenant ${tid} has no seeded live session`);
      byTenant.set(
        tid,
        await tokens.signAccessToken({ sub: session.userId, tid, sid: session.sessionId }),
      );
    }
    return byTenant;
  };
  /** Requests carrying access tokens, built again by renewTokens once they are 10 minutes old. */
  const withTokens = async (build: () => Promise<autocannon.Request[]>) => {
    const requests = await build();
    let signedAt = Date.now();
    return {
      requests,
      async renewTokens() {
        if (Date.now() - signedAt < TOKEN_RENEWAL_MS) return;
        requests.splice(0, requests.length, ...(await build()));
        signedAt = Date.now();
      },
    };
  };
  const expectItem = (expectedId: string) => (status: number, body: string) => {
    if (status !== 200) return `status ${status}: ${body.slice(0, 300)}`;
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return id === expectedId ? undefined : `answered item ${String(id)}, not ${expectedId}`;
  };
  const expectPage = (status: number, body: string) => {
    if (status !== 200) return `status ${status}: ${body.slice(0, 300)}`;
    const page = JSON.parse(body) as { items?: unknown[]; nextCursor?: unknown };
    return page.items?.length === LIST_LIMIT && typeof page.nextCursor === "string"
      ? undefined
      : `a page of ${page.items?.length} items`;
  };
  const itemIdOf = (request: autocannon.Request) => request.path?.split("/").at(-1) ?? "";

  if (servers.baseline && selected.has("baseline")) {
    targets.push({
      name: "baseline",
      description:
        "bare Fastify + postgres.js, GET /tenants/:tenantId/items/:id, select * from items where tenant_id = $1 and id = $2, as the owner: no auth, no RLS",
      server: servers.baseline,
      backends: { database: small.name, applicationName: "kit-bench-baseline" },
      requests: pairs.map(({ tenantId, itemId }) => ({
        method: "GET",
        path: `/tenants/${tenantId}/items/${itemId}`,
      })),
      check: (status, body, request) => expectItem(itemIdOf(request))(status, body),
    });
  }
  if (servers.baseline && selected.has("baseline-list")) {
    const tenants = await tenantIds(small.ownerUrl, params.listTenants);
    targets.push({
      name: "baseline-list",
      description: `bare Fastify + postgres.js, GET /tenants/:tenantId/items?limit=${LIST_LIMIT}, the same keyset page as the kit's list (limit + 1 rows, newest first), as the owner: no auth, no RLS; rotating through ${tenants.length} random tenants`,
      server: servers.baseline,
      backends: { database: small.name, applicationName: "kit-bench-baseline" },
      requests: tenants.map((tenantId) => ({
        method: "GET",
        path: `/tenants/${tenantId}/items?limit=${LIST_LIMIT}`,
      })),
      check: (status, body) => expectPage(status, body),
    });
  }
  /** The kit's item read on `server`, rotating through the sampled (tenant, item) pairs. */
  const getTarget = async (
    name: TargetName,
    server: ServerProcess,
    description: string,
  ): Promise<Target> => {
    const signed = await withTokens(async () => {
      const tokens = await tokensFor(
        server,
        pairs.map((pair) => pair.tenantId),
      );
      return pairs.map(({ tenantId, itemId }) => ({
        method: "GET",
        path: `/api/v1/items/${itemId}`,
        headers: { authorization: `Bearer ${tokens.get(tenantId)}` },
      }));
    });
    return {
      name,
      description,
      server,
      backends: { database: small.name, applicationName: KIT_APPLICATION_NAME },
      ...signed,
      check: (status, body, request) => expectItem(itemIdOf(request))(status, body),
    };
  };
  if (servers.kit && selected.has("get")) {
    targets.push(
      await getTarget(
        "get",
        servers.kit,
        "kit GET /api/v1/items/:id: bearer token verified, session checked (answer cached in the process), tenant transaction (role switch + enter_tenant + query, one Sync), RLS, Zod serialization",
      ),
    );
  }
  if (servers.kitTraced) {
    targets.push(
      await getTarget(
        "get-traced",
        servers.kitTraced,
        `the same as get with tracing on: OTLP/HTTP to a local sink, parentbased_traceidratio ${TRACED_RATIO}; get-traced's gap to get is what tracing costs`,
      ),
    );
  }
  if (servers.kitLogged) {
    targets.push(
      await getTarget(
        "get-logged",
        servers.kitLogged,
        "the same as get with LOG_LEVEL=info and REQUEST_LOG=all (production's defaults): one JSON line per request to the server's log file; get-logged's gap to get is what the line costs",
      ),
    );
  }
  if (servers.kitReference) {
    targets.push(
      await getTarget(
        "get-reference",
        servers.kitReference,
        `the same as get served by another build (${REFERENCE_ENTRY}), tracing off: get's gap to it is what the commits between the two builds cost`,
      ),
    );
  }
  if (servers.kitUnguarded) {
    targets.push(
      await getTarget(
        "get-unguarded",
        servers.kitUnguarded,
        "the same as get with the session check switched off (bench/unguarded-server.ts: same build, a session guard that lets every token through): get's gap to it is the cost of the per-request session check",
      ),
    );
  }
  if (servers.kitUnchecked) {
    targets.push(
      await getTarget(
        "get-unchecked",
        servers.kitUnchecked,
        "the same as get without the route's permission declaration (bench/unchecked-server.ts: same build and modules, only the item read declared signedIn): get's gap to it is the cost of requirePermission",
      ),
    );
  }
  if (servers.kitRedis) {
    targets.push(
      await getTarget(
        "get-redis",
        servers.kitRedis,
        "kit GET /api/v1/items/:id with Redis: per-IP and per-tenant rate limits (limits far above the load) and the tenant lookup through the Redis cache",
      ),
    );
  }
  if (servers.kitRedisUnlimited) {
    targets.push(
      await getTarget(
        "get-redis-unlimited",
        servers.kitRedisUnlimited,
        "the same with RATE_LIMIT_ENABLED=false: no general limiter and so no tenant lookup",
      ),
    );
  }
  const listTarget = async (
    name: TargetName,
    server: ServerProcess,
    database: SeededDatabase,
  ): Promise<Target> => {
    const tenants = await tenantIds(database.ownerUrl, params.listTenants);
    const signed = await withTokens(async () =>
      [...(await tokensFor(server, tenants)).values()].map((token) => ({
        method: "GET",
        path: `/api/v1/items?limit=${LIST_LIMIT}`,
        headers: { authorization: `Bearer ${token}` },
      })),
    );
    return {
      name,
      description: `kit GET /api/v1/items?limit=${LIST_LIMIT} at ${database.tenants} tenants x ${database.itemsPerTenant} items, rotating through ${tenants.length} random tenants`,
      server,
      backends: { database: database.name, applicationName: KIT_APPLICATION_NAME },
      ...signed,
      check: (status, body) => expectPage(status, body),
    };
  };
  if (servers.kit && selected.has("list")) {
    targets.push(await listTarget("list", servers.kit, small));
  }
  if (servers.kit && selected.has("post")) {
    const kit = servers.kit;
    const signed = await withTokens(async () => {
      const tokens = await tokensFor(
        kit,
        pairs.map((pair) => pair.tenantId),
      );
      return pairs.map(({ tenantId }) => ({
        method: "POST",
        path: "/api/v1/items",
        headers: {
          authorization: `Bearer ${tokens.get(tenantId)}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ name: POSTED_ITEM_NAME, description: "created under load" }),
      }));
    });
    targets.push({
      name: "post",
      description:
        "kit POST /api/v1/items: bearer token verified, session and permission checked, tenant transaction (role switch + enter_tenant + insert ... returning, one Sync), RLS, Zod validation and serialization; rotating through the sampled tenants",
      server: kit,
      backends: { database: small.name, applicationName: KIT_APPLICATION_NAME },
      ...signed,
      check: (status, body) => {
        if (status !== 201) return `status ${status}: ${body.slice(0, 300)}`;
        const created = JSON.parse(body) as { id?: unknown; name?: unknown };
        return typeof created.id === "string" && created.name === POSTED_ITEM_NAME
          ? undefined
          : `created ${body.slice(0, 300)}`;
      },
    });
  }
  if (servers.kitLarge && large) {
    targets.push(await listTarget("list-10k", servers.kitLarge, large));
  }
  if (targets.length === 0) throw new Error("no target selected");

  // ---- correctness before load -----------------------------------------------------------
  for (const target of targets) {
    for (const request of target.requests.slice(0, 3)) {
      const response = await fetch(`${target.server.baseUrl}${request.path}`, {
        method: request.method ?? "GET",
        headers: (request.headers ?? {}) as Record<string, string>,
        ...(request.body === undefined ? {} : { body: String(request.body) }),
      });
      const problem = target.check(response.status, await response.text(), request);
      if (problem) throw new Error(`${target.name}: ${request.path}: ${problem}`);
    }
  }
  // The item reads compared in pairs each answer the same refusals before the load, so the two
  // servers of a pair have served the same requests. A pair still carries a bias of the run
  // (up to 18% with one build in both places): compare two builds in both places
  // (docs/decisions/0001-tenant-read-path.md).
  const itemReads = targets.filter(
    (target) => target.name === "get" || target.name === "get-reference",
  );
  const [first, second] = pairs;
  if (first && second && first.tenantId !== second.tenantId) {
    for (const read of itemReads) {
      // Another tenant's token must not reach this item.
      const foreign = read.requests.find((request) =>
        request.path?.endsWith(second.itemId),
      )?.headers;
      const response = await fetch(`${read.server.baseUrl}/api/v1/items/${first.itemId}`, {
        headers: (foreign ?? {}) as Record<string, string>,
      });
      await response.arrayBuffer();
      if (response.status !== 404) {
        throw new Error(
          `${read.name}: another tenant's token read an item: status ${response.status}`,
        );
      }
    }
  }
  // A well-signed token of a session that does not exist: the kit must refuse it, and
  // get-unguarded must serve it (its guard is off, so the pair measures the check and only it).
  const unguarded = targets.find((target) => target.name === "get-unguarded");
  if (first) {
    for (const [target, expected] of [
      ...itemReads.map((read) => [read, 401] as const),
      [unguarded, 200] as const,
    ]) {
      if (!target) continue;
      const token = await tokenService(target.server).signAccessToken({
        sub: randomUUID(),
        tid: first.tenantId,
        sid: randomUUID(),
      });
      const response = await fetch(`${target.server.baseUrl}/api/v1/items/${first.itemId}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await response.arrayBuffer();
      if (response.status !== expected) {
        throw new Error(
          `${target.name}: a token of a session that does not exist answered ${response.status}, not ${expected}`,
        );
      }
    }
  }

  // ---- load --------------------------------------------------------------------------------
  monitor = new pg.Client({ connectionString: small.ownerUrl, application_name: "kit-bench" });
  await monitor.connect();
  // The correctness check created a few; the last run may have been interrupted.
  await deletePostedItems();
  const runs: RunResult[] = [];
  // Each server's memory before the load: just after its start and the few correctness
  // requests, then once left alone for idleSeconds, as a process between bursts of traffic sits.
  for (const target of targets) {
    const memory = memoryOf(target.server.pid);
    if (memory) startedMemoryMb.set(target.server.pid, memory.rssMb);
  }
  await sampleIdleMemory(targets, idleMemoryMb);
  await sampleHeapBreakdown(targets, idleBreakdownMb);
  log(
    `\nwarm-up ${params.warmupSeconds} s per target, then ${params.rounds} rounds x ${params.durationSeconds} s, ${params.connections} connections`,
  );
  for (const target of targets) {
    runs.push(await load(target, "warmup", 0, params.warmupSeconds));
  }
  for (let round = 1; round <= params.rounds; round++) {
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (let attempt = 1; ; attempt++) {
      await waitForQuietMachine();
      const roundRuns: RunResult[] = [];
      for (const target of order) {
        if (params.settleSeconds > 0) {
          runs.push(await load(target, "settle", round, params.settleSeconds));
        }
        roundRuns.push(await load(target, "measure", round, params.durationSeconds));
      }
      const noisy = roundRuns.some((run) => (run.cpu?.otherShare ?? 0) > params.maxOtherLoad);
      for (const run of roundRuns) run.attempt = attempt;
      if (!noisy || attempt > params.roundRetries) {
        for (const run of roundRuns) run.noisy = noisy;
        runs.push(...roundRuns);
        break;
      }
      log(
        `round ${round}: other processes took more than ${percent(params.maxOtherLoad)} of the machine; measuring it again`,
      );
      for (const run of roundRuns) run.phase = "discarded";
      runs.push(...roundRuns);
    }
  }

  // And once the load is over: memory an idle server gives back, and what it keeps.
  await sampleIdleMemory(targets, idleAfterLoadMemoryMb);
  await sampleHeapBreakdown(targets, afterLoadBreakdownMb);

  const failures = runs.filter(
    (run) => run.autocannon.non2xx > 0 || run.autocannon.errors > 0 || run.autocannon.timeouts > 0,
  );

  // ---- report ------------------------------------------------------------------------------
  const summary = summarize(targets, runs);
  const goals = evaluateGoals(summary, runs);
  const report = {
    benchmark: "tenant read path",
    date: startedAt.toISOString(),
    note: args.note,
    git: gitInfo(ROOT),
    machine: {
      ...machineInfo(),
      postgres: await serverVersion(small.ownerUrl),
      loadAverage: { start: loadAtStart, end: os.loadavg() },
      note: "load generator (autocannon), servers and PostgreSQL share the machine's cores",
    },
    versions: packageVersions(["fastify", "pg", "postgres", "autocannon", "jose", "zod"]),
    parameters: {
      ...params,
      kitServerEnv: {
        ENVIRONMENT: "test",
        LOG_LEVEL: params.logLevel,
        ...KIT_BENCH_ENV,
        ...params.kitEnv,
      },
      targets: targets.map((target) => target.name),
    },
    databases: [small, ...(large ? [large] : [])].map((database) => ({
      name: database.name,
      tenants: database.tenants,
      itemsPerTenant: database.itemsPerTenant,
      reused: database.reused,
      seedSeconds: database.seedSeconds,
    })),
    targets: Object.fromEntries(targets.map((target) => [target.name, target.description])),
    summary,
    goals,
    runs,
    ok: failures.length === 0,
  };

  printTable(summary, goals);
  if (failures.length > 0) {
    const failedFile = outputFile.replace(/\.json$/, ".failed.tmp.json");
    writeJson(failedFile, report);
    for (const run of failures) {
      console.error(
        `${run.target} (${run.phase} ${run.round}): non-2xx ${run.autocannon.non2xx}, errors ${run.autocannon.errors}, timeouts ${run.autocannon.timeouts}, status codes ${JSON.stringify(run.autocannon.statusCodes)}`,
      );
    }
    for (const server of Object.values(servers)) {
      console.error(`--- ${server.name} log:\n${tail(server.logFile)}`);
    }
    throw new Error(`some answers were not 200; results written to ${failedFile} only`);
  }
  writeJson(outputFile, report);
  log(`\nwritten: ${outputFile}`);
}

/** Waits (up to quietWaitSeconds) until other processes leave the machine mostly idle. */
async function waitForQuietMachine(): Promise<void> {
  const deadline = Date.now() + params.quietWaitSeconds * 1000;
  let announced = false;
  for (;;) {
    const busy = await machineBusyShare(2_000);
    if (busy === undefined || busy <= params.maxOtherLoad) return;
    if (Date.now() > deadline) {
      log(`the machine is still ${percent(busy)} busy with other work; measuring anyway`);
      return;
    }
    if (!announced) {
      log(`waiting for the machine to be quiet (other work: ${percent(busy)} busy)`);
      announced = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 3_000));
  }
}

const percent = (share: number) => `${Math.round(share * 100)}%`;

/** One autocannon run against a target. */
async function load(
  target: Target,
  phase: RunResult["phase"],
  round: number,
  durationSeconds: number,
): Promise<RunResult> {
  await target.renewTokens?.();
  const connections = params.connections;
  const requests = target.requests;
  let nextClient = 0;
  // Each connection gets its own stride of the requests (or, with fewer requests than
  // connections, its own rotation), so concurrent requests spread over tenants.
  const requestsFor = (client: number): autocannon.Request[] => {
    if (requests.length >= connections) {
      return requests.filter((_, index) => index % connections === client);
    }
    const offset = client % requests.length;
    return [...requests.slice(offset), ...requests.slice(0, offset)];
  };
  const latencies: number[] = [];
  const latenciesBySecond: number[][] = [];
  let startedAt = 0;
  const cpuGroups = async () => ({
    loadgen: [process.pid],
    server: [target.server.pid],
    postgres: await backendPids(target),
  });
  const cpu = startCpuAccounting(await cpuGroups());
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.server.baseUrl,
        connections,
        duration: durationSeconds,
        ...(params.rate ? { overallRate: params.rate } : {}),
        // A placeholder: setupClient gives each connection its share (each request built once).
        requests: requests.slice(0, 1),
        setupClient: (client) => {
          client.setRequests(requestsFor(nextClient++ % connections));
        },
      },
      (error, finished) => (error ? reject(error) : resolve(finished)),
    );
    startedAt = performance.now();
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      if (statusCode < 200 || statusCode >= 300) return;
      latencies.push(responseTime);
      const second = Math.floor((performance.now() - startedAt) / 1000);
      const inSecond = latenciesBySecond[second];
      if (inSecond) inSecond.push(responseTime);
      else latenciesBySecond[second] = [responseTime];
    });
  });
  const usage = cpu.stop(await cpuGroups());
  const serverMemory = memoryOf(target.server.pid);
  latencies.sort((a, b) => a - b);
  const completed = result.requests.total;
  const run: RunResult = {
    target: target.name,
    phase,
    round,
    requestsPerSecond: round1(result.requests.average),
    completed,
    durationSeconds: result.duration,
    latencyMs: {
      p50: round2(percentile(latencies, 0.5)),
      p90: round2(percentile(latencies, 0.9)),
      p99: round2(percentile(latencies, 0.99)),
      max: round2(latencies.at(-1) ?? 0),
      mean: round2(latencies.reduce((sum, value) => sum + value, 0) / (latencies.length || 1)),
    },
    latencyBySecond: Array.from(latenciesBySecond, (inSecond = []) => {
      inSecond.sort((a, b) => a - b);
      return {
        answers: inSecond.length,
        p50: round2(percentile(inSecond, 0.5)),
        p99: round2(percentile(inSecond, 0.99)),
      };
    }),
    cpu: usage && {
      ...usage,
      microsecondsPerRequest: Object.fromEntries(
        Object.entries(usage.seconds).map(([group, seconds]) => [
          group,
          Math.round((seconds * 1e6) / (completed || 1)),
        ]),
      ),
    },
    ...(serverMemory ? { serverMemory } : {}),
    autocannon: {
      requestsAverage: result.requests.average,
      latencyP50: result.latency.p50,
      latencyP99: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      statusCodes: Object.fromEntries(
        Object.entries(result.statusCodeStats ?? {}).map(([code, stat]) => [code, stat.count ?? 0]),
      ),
    },
  };
  log(
    `${phase === "warmup" ? "warm-up " : phase === "settle" ? `settle ${round}` : `round ${round}`}  ${target.name.padEnd(NAME_WIDTH)} ${String(run.requestsPerSecond).padStart(8)} req/s  p50 ${run.latencyMs.p50.toFixed(2)} ms  p99 ${run.latencyMs.p99.toFixed(2)} ms${usage ? `  cpu/req: server ${run.cpu?.microsecondsPerRequest.server} us, postgres ${run.cpu?.microsecondsPerRequest.postgres} us, loadgen ${run.cpu?.microsecondsPerRequest.loadgen} us; other load ${Math.round(usage.otherShare * 100)}%` : ""}${result.non2xx || result.errors || result.timeouts ? `  NON-2XX ${result.non2xx} ERRORS ${result.errors} TIMEOUTS ${result.timeouts}` : ""}`,
  );
  return run;
}

interface TargetSummary {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Mean CPU time per request over the rounds, by part (server, postgres, loadgen). */
  cpuMicrosecondsPerRequest?: Record<string, number>;
  /** The largest share of the machine taken by other processes in any round. */
  maxOtherLoadShare?: number;
  /** Rounds kept although other processes loaded the machine (after the last retry). */
  noisyRounds?: number;
  /** Per round, this target's req/s over its baseline's (referenceOf) in the same round. */
  pairedRatios?: number[];
  /** Per round, this target's p99 over its baseline's in the same round. */
  pairedP99Ratios?: number[];
  /**
   * The medians of the per-round ratios to its baseline: what the goals judge, as the read-path
   * goals were set (paired rounds cancel what drifts between rounds, which the ratio of the
   * medians, `vsBaseline`, does not).
   */
  pairedVsBaseline?: { requestsPerSecond: number; p99: number };
  /**
   * The server's resident memory (MB): just after its start (and the correctness requests),
   * idle (left alone for --idle-seconds before the load: V8 gives back what the start-up
   * needed only once the process has been quiet for about 8 s), the largest at the end of a
   * measured round, its peak over the whole run (VmHWM), and idle again after the load.
   */
  serverMemoryMb?: {
    started?: number;
    idle?: number;
    endOfRounds: number;
    peak: number;
    idleAfterLoad?: number;
    /** Where the idle RSS is, before and after the load (sampleHeapBreakdown). */
    idleBreakdown?: Record<string, number>;
    afterLoadBreakdown?: Record<string, number>;
  };
  vsBaseline?: { requestsPerSecond: number; p50: number; p99: number };
}

const memoryCell = (memory: TargetSummary["serverMemoryMb"]) =>
  memory
    ? `${memory.idle ?? "-"} / ${memory.endOfRounds} / ${memory.peak} / ${memory.idleAfterLoad ?? "-"}`
    : "-";

/** Each server's resident memory (MB) by process id: started, idle before and after the load. */
const startedMemoryMb = new Map<number, number>();
const idleMemoryMb = new Map<number, number>();
const idleAfterLoadMemoryMb = new Map<number, number>();

/** Leaves the servers without requests for idleSeconds, then records each one's RSS. */
async function sampleIdleMemory(targets: readonly Target[], into: Map<number, number>) {
  if (params.idleSeconds <= 0) return;
  log(`leaving the servers idle for ${params.idleSeconds} s to read their memory`);
  await delay(params.idleSeconds * 1000);
  for (const target of targets) {
    const memory = memoryOf(target.server.pid);
    if (memory) into.set(target.server.pid, memory.rssMb);
  }
}

/**
 * Where a kit server's resident memory is, idle before and after the load, from its own
 * /metrics (open under ENVIRONMENT=test) and /proc: V8's heap by space, external memory, the
 * pages backed by files (node's binary), and the rest (the allocator's arenas, stacks). The
 * baseline serves no metrics and is left out.
 */
const idleBreakdownMb = new Map<number, Record<string, number>>();
const afterLoadBreakdownMb = new Map<number, Record<string, number>>();

async function sampleHeapBreakdown(
  targets: readonly Target[],
  into: Map<number, Record<string, number>>,
) {
  const seen = new Set<number>();
  for (const target of targets) {
    const { pid, baseUrl } = target.server;
    if (seen.has(pid) || target.name.startsWith("baseline")) continue;
    seen.add(pid);
    const response = await fetch(`${baseUrl}/metrics`).catch(() => undefined);
    if (!response?.ok) continue;
    const values = new Map<string, number>();
    for (const line of (await response.text()).split("\n")) {
      const match =
        /^(nodejs_heap_space_size_total_bytes\{space="(\w+)"\}|nodejs_heap_size_total_bytes|nodejs_external_memory_bytes|process_resident_memory_bytes) (\S+)/.exec(
          line,
        );
      if (match?.[1] && match[3]) values.set(match[2] ?? match[1], Number(match[3]));
    }
    const mb = (bytes: number | undefined) => Math.round((bytes ?? 0) / 104_857.6) / 10;
    const fileBacked = memoryOf(pid)?.fileBackedMb;
    const heapTotal = values.get("nodejs_heap_size_total_bytes");
    const rss = values.get("process_resident_memory_bytes");
    if (heapTotal === undefined || rss === undefined) continue;
    const external = values.get("nodejs_external_memory_bytes") ?? 0;
    into.set(pid, {
      rss: mb(rss),
      heap: mb(heapTotal),
      ...Object.fromEntries(
        ["new", "old", "code", "large_object", "new_large_object", "trusted", "shared"]
          .filter((space) => values.has(space))
          .map((space) => [`${space}Space`, mb(values.get(space))]),
      ),
      external: mb(external),
      ...(fileBacked === undefined ? {} : { fileBacked }),
      // Anonymous memory outside V8's heap: the allocator's arenas (compiler zones, buffers), stacks.
      rest: mb(rss - heapTotal - external - (fileBacked ?? 0) * 1_048_576),
    });
  }
}

/**
 * The baseline a target is measured against: a list against the bare list when it ran, every
 * other target (and a list without it) against the bare item read. None for a baseline itself.
 */
function referenceOf(
  name: TargetName,
  summary: Partial<Record<TargetName, TargetSummary>>,
): TargetName | undefined {
  if (name === "baseline") return undefined;
  if (name === "baseline-list") return summary.baseline ? "baseline" : undefined;
  if (name.startsWith("list") && summary["baseline-list"]) return "baseline-list";
  return summary.baseline ? "baseline" : undefined;
}

/** Mean req/s over rounds; latency percentiles as the median of the rounds' percentiles. */
function summarize(targets: readonly Target[], runs: readonly RunResult[]) {
  const measured = (name: TargetName) =>
    runs.filter((run) => run.phase === "measure" && run.target === name);
  const summary: Partial<Record<TargetName, TargetSummary>> = {};
  for (const target of targets) {
    const own = measured(target.name);
    summary[target.name] = {
      requestsPerSecond: round1(mean(own.map((run) => run.requestsPerSecond))),
      p50Ms: round2(median(own.map((run) => run.latencyMs.p50))),
      p99Ms: round2(median(own.map((run) => run.latencyMs.p99))),
      noisyRounds: own.filter((run) => run.noisy).length,
    };
    const memory = own.flatMap((run) => (run.serverMemory ? [run.serverMemory] : []));
    const entryOf = summary[target.name];
    if (memory.length > 0 && entryOf) {
      const pid = target.server.pid;
      const started = startedMemoryMb.get(pid);
      const idle = idleMemoryMb.get(pid);
      const idleAfterLoad = idleAfterLoadMemoryMb.get(pid);
      entryOf.serverMemoryMb = {
        ...(started === undefined ? {} : { started }),
        ...(idle === undefined ? {} : { idle }),
        endOfRounds: Math.max(...memory.map((each) => each.rssMb)),
        peak: Math.max(...memory.map((each) => each.peakMb)),
        ...(idleAfterLoad === undefined ? {} : { idleAfterLoad }),
        ...(idleBreakdownMb.has(pid) ? { idleBreakdown: idleBreakdownMb.get(pid) } : {}),
        ...(afterLoadBreakdownMb.has(pid)
          ? { afterLoadBreakdown: afterLoadBreakdownMb.get(pid) }
          : {}),
      };
    }
    const cpu = own.flatMap((run) => (run.cpu ? [run.cpu] : []));
    if (cpu.length > 0) {
      const groups = Object.keys(cpu[0]?.microsecondsPerRequest ?? {});
      const entry = summary[target.name];
      if (entry) {
        entry.cpuMicrosecondsPerRequest = Object.fromEntries(
          groups.map((group) => [
            group,
            Math.round(mean(cpu.map((usage) => usage.microsecondsPerRequest[group] ?? 0))),
          ]),
        );
        entry.maxOtherLoadShare = Math.max(...cpu.map((usage) => usage.otherShare));
      }
    }
  }
  for (const target of targets) {
    const reference = referenceOf(target.name, summary);
    const base = reference && summary[reference];
    const entry = summary[target.name];
    if (!entry || !reference || !base) continue;
    const referenceRuns = measured(reference);
    entry.vsBaseline = {
      requestsPerSecond: round3(entry.requestsPerSecond / base.requestsPerSecond),
      p50: round3(entry.p50Ms / base.p50Ms),
      p99: round3(entry.p99Ms / base.p99Ms),
    };
    const pairs = measured(target.name).map((run) => ({
      run,
      pair: referenceRuns.find((candidate) => candidate.round === run.round),
    }));
    entry.pairedRatios = pairs.map(({ run, pair }) =>
      pair ? round3(run.requestsPerSecond / pair.requestsPerSecond) : Number.NaN,
    );
    entry.pairedP99Ratios = pairs.map(({ run, pair }) =>
      pair ? round3(run.latencyMs.p99 / pair.latencyMs.p99) : Number.NaN,
    );
    entry.pairedVsBaseline = {
      requestsPerSecond: round3(median(entry.pairedRatios)),
      p99: round3(median(entry.pairedP99Ratios)),
    };
  }
  return summary;
}

/**
 * What `target` costs against `reference`: 1 - the median over rounds of their req/s ratio
 * within the same round.
 */
function pairedCost(
  runs: readonly RunResult[],
  target: TargetName,
  reference: TargetName,
): number | undefined {
  const inRound = (name: TargetName) =>
    new Map(
      runs
        .filter((run) => run.phase === "measure" && run.target === name)
        .map((run) => [run.round, run.requestsPerSecond]),
    );
  const own = inRound(target);
  const other = inRound(reference);
  const ratios = [...own].flatMap(([round, rps]) => {
    const pair = other.get(round);
    return pair ? [rps / pair] : [];
  });
  return ratios.length > 0 ? round3(1 - median(ratios)) : undefined;
}

/** The server's CPU per request of `target` over `reference`'s, minus 1. */
function cpuIncrease(
  target: TargetSummary | undefined,
  reference: TargetSummary | undefined,
): number | undefined {
  const own = target?.cpuMicrosecondsPerRequest?.server;
  const other = reference?.cpuMicrosecondsPerRequest?.server;
  return own && other ? round3(own / other - 1) : undefined;
}

function evaluateGoals(
  summary: Partial<Record<TargetName, TargetSummary>>,
  runs: readonly RunResult[],
) {
  const get = summary.get?.pairedVsBaseline;
  const list = summary.list;
  const listLarge = summary["list-10k"];
  const listVsBare = summary["baseline-list"] ? list?.pairedVsBaseline : undefined;
  const listChange =
    list && listLarge ? round3(Math.abs(listLarge.p50Ms - list.p50Ms) / list.p50Ms) : undefined;
  const limited = summary["get-redis"];
  const unlimited = summary["get-redis-unlimited"];
  // Paired: each round measures both targets back to back, so drift between rounds cancels.
  const limiterCost =
    limited && unlimited ? pairedCost(runs, "get-redis", "get-redis-unlimited") : undefined;
  const sessionCheckCost =
    summary.get && summary["get-unguarded"] ? pairedCost(runs, "get", "get-unguarded") : undefined;
  const permissionCheckCost =
    summary.get && summary["get-unchecked"] ? pairedCost(runs, "get", "get-unchecked") : undefined;
  const tracingCost =
    summary.get && summary["get-traced"] ? pairedCost(runs, "get-traced", "get") : undefined;
  const tracingCpu = cpuIncrease(summary["get-traced"], summary.get);
  const logLineCost =
    summary.get && summary["get-logged"] ? pairedCost(runs, "get-logged", "get") : undefined;
  const logLineCpu = cpuIncrease(summary["get-logged"], summary.get);
  const production = summary["get-redis"]?.pairedVsBaseline;
  const referenceCost =
    summary.get && summary["get-reference"] ? pairedCost(runs, "get", "get-reference") : undefined;
  const referenceCpu = cpuIncrease(summary.get, summary["get-reference"]);
  return {
    getThroughput: get && {
      goal: "kit GET req/s >= 0.55 x baseline (stretch 0.65; median of paired rounds)",
      value: get.requestsPerSecond,
      met: get.requestsPerSecond >= 0.55,
      stretchMet: get.requestsPerSecond >= 0.65,
    },
    getP99: get && {
      goal: "kit GET p99 <= 1.6 x baseline (median of paired rounds)",
      value: get.p99,
      met: get.p99 <= 1.6,
    },
    // The read as production runs it: Redis behind the rate limits and the tenant cache.
    getRedisThroughput: production && {
      goal: "kit GET with Redis req/s >= 0.55 x baseline (stretch 0.65; median of paired rounds)",
      value: production.requestsPerSecond,
      met: production.requestsPerSecond >= 0.55,
      stretchMet: production.requestsPerSecond >= 0.65,
    },
    getRedisP99: production && {
      goal: "kit GET with Redis p99 <= 1.6 x baseline (median of paired rounds)",
      value: production.p99,
      met: production.p99 <= 1.6,
    },
    logLineCost: logLineCost !== undefined && {
      goal: "a request log line at info costs <= 10% of get's req/s (median of paired rounds)",
      value: logLineCost,
      met: logLineCost <= 0.1,
    },
    logLineCpu: logLineCpu !== undefined && {
      goal: "a request log line at info adds <= 10% server CPU per request to get's",
      value: logLineCpu,
      met: logLineCpu <= 0.1,
    },
    sessionCheckCost: sessionCheckCost !== undefined && {
      goal: "session check costs < 10% of get-unguarded's req/s (median of paired rounds)",
      value: sessionCheckCost,
      met: sessionCheckCost < 0.1,
    },
    permissionCheckCost: permissionCheckCost !== undefined && {
      goal: "permission check costs < 5% of get-unchecked's req/s (median of paired rounds)",
      value: permissionCheckCost,
      met: permissionCheckCost < 0.05,
    },
    tracingCost: tracingCost !== undefined && {
      goal: `tracing on (ratio ${TRACED_RATIO}) costs < 10% of get's req/s (median of paired rounds)`,
      value: tracingCost,
      met: tracingCost < 0.1,
    },
    tracingCpu: tracingCpu !== undefined && {
      goal: `tracing on (ratio ${TRACED_RATIO}) adds < 10% server CPU per request to get's`,
      value: tracingCpu,
      met: tracingCpu < 0.1,
    },
    // With --reference-entry naming a build from before tracing existed: what tracing's code
    // costs while tracing is off.
    referenceCost: referenceCost !== undefined && {
      goal: "get costs < 2% of get-reference's req/s (median of paired rounds)",
      value: referenceCost,
      met: referenceCost < 0.02,
    },
    referenceCpu: referenceCpu !== undefined && {
      goal: "get adds < 2% server CPU per request to get-reference's",
      value: referenceCpu,
      met: referenceCpu < 0.02,
    },
    rateLimiterCost: limiterCost !== undefined && {
      goal: "rate limits + cached tenant lookup cost < 10% of get-redis-unlimited's req/s (median of paired rounds)",
      value: limiterCost,
      met: limiterCost < 0.1,
    },
    listThroughput: listVsBare && {
      goal: "kit list req/s >= 0.55 x baseline-list (median of paired rounds)",
      value: listVsBare.requestsPerSecond,
      met: listVsBare.requestsPerSecond >= 0.55,
    },
    listScaling: listChange !== undefined && {
      goal: "list p50 at 10,000 and 1,000 tenants differ by < 20%",
      value: listChange,
      met: listChange < 0.2,
    },
  };
}

function printTable(
  summary: Partial<Record<TargetName, TargetSummary>>,
  goals: ReturnType<typeof evaluateGoals>,
): void {
  const header = [
    "target",
    "req/s",
    "p50 ms",
    "p99 ms",
    "req/s x base",
    "p50 x base",
    "p99 x base",
    "paired req/s",
    "paired p99",
  ];
  const rows = TARGETS.flatMap((name) => {
    const entry = summary[name];
    if (!entry) return [];
    const ratio = entry.vsBaseline;
    const paired = entry.pairedVsBaseline;
    // The baseline is its own reference; a target without one has no ratio.
    const ratioCell = (value: number | undefined) =>
      value !== undefined ? value.toFixed(2) : name === "baseline" ? "1.00" : "-";
    return [
      [
        name,
        entry.requestsPerSecond.toFixed(0),
        entry.p50Ms.toFixed(2),
        entry.p99Ms.toFixed(2),
        ratioCell(ratio?.requestsPerSecond),
        ratioCell(ratio?.p50),
        ratioCell(ratio?.p99),
        ratioCell(paired?.requestsPerSecond),
        ratioCell(paired?.p99),
      ],
    ];
  });
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join(" | ")} |`;
  log("");
  log(line(header));
  log(`|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`);
  for (const row of rows) log(line(row));
  log(
    "x base: the medians over the rounds, divided; paired: the median of the per-round ratios to the baseline, which the goals judge",
  );
  const cpuRows = TARGETS.flatMap((name) => {
    const cpu = summary[name]?.cpuMicrosecondsPerRequest;
    if (!cpu) return [];
    return [
      `| ${name.padEnd(NAME_WIDTH)} | ${String(cpu.server).padStart(6)} | ${String(cpu.postgres).padStart(8)} | ${String(cpu.loadgen).padStart(7)} | ${`${Math.round((summary[name]?.maxOtherLoadShare ?? 0) * 100)}%`.padStart(10)} | ${memoryCell(summary[name]?.serverMemoryMb).padStart(28)} |`,
    ];
  });
  if (cpuRows.length > 0) {
    log(
      "\nCPU per request (us), mean over rounds; other load: largest share of the machine taken by",
    );
    log("processes outside the benchmark in any round (above ~10% the round is not trustworthy)");
    log(
      "and the server's resident memory (MB): idle before the load, at the end of a round, peak, idle after",
    );
    log(
      `| ${"target".padEnd(NAME_WIDTH)} | server | postgres | loadgen | other load | RSS idle / end / peak / after |`,
    );
    log(
      `|${"-".repeat(NAME_WIDTH + 2)}|--------|----------|---------|------------|------------------------------|`,
    );
    for (const row of cpuRows) log(row);
  }
  const noisy = TARGETS.reduce((sum, name) => sum + (summary[name]?.noisyRounds ?? 0), 0);
  if (noisy > 0) {
    log(
      `\nwarning: ${noisy} runs were kept although other processes loaded the machine (runs[].noisy)`,
    );
  }
  log("");
  for (const goal of Object.values(goals)) {
    if (!goal) continue;
    const stretch = "stretchMet" in goal ? (goal.stretchMet ? " (stretch met)" : "") : "";
    log(`${goal.met ? "MET    " : "MISSED "} ${goal.goal}: ${goal.value}${stretch}`);
  }
}

// ---- fixtures and machine facts -------------------------------------------------------------

let monitor: pg.Client | undefined;
/** Holds the bench's advisory lock for the whole run (released when it disconnects). */
let benchLock: pg.Client | undefined;

/**
 * An OTLP/HTTP receiver that reads each export and answers success, keeping nothing: the kit's
 * exporter does all its work (batching, encoding, sending) and the sink costs the machine little.
 */
async function startTraceSink(): Promise<{ url: string }> {
  const sink = http.createServer((request, response) => {
    request.on("data", () => {});
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
  sink.unref();
  return { url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}` };
}

/** Removes the items the post target created, so the seeded database stays as seeded. */
async function deletePostedItems(): Promise<void> {
  if (!monitor || !selected.has("post")) return;
  const { rowCount } = await monitor.query("delete from items where name = $1", [POSTED_ITEM_NAME]);
  if (rowCount) log(`deleted the ${rowCount} items the post target created`);
}

/** The PostgreSQL backends serving a target's server right now. */
async function backendPids(target: Target): Promise<number[]> {
  if (!monitor) return [];
  const result = await monitor.query<{ pid: number }>(
    "select pid from pg_stat_activity where datname = $1 and application_name in ($2, $2 || '-reads')",
    [target.backends.database, target.backends.applicationName],
  );
  return result.rows.map((row) => row.pid);
}

/** A connection of the bench's own (application_name kit-bench) for reading fixtures. */
const withClient = <T>(url: string, fn: (client: pg.Client) => Promise<T>) =>
  withSeedClient(url, fn, "kit-bench");

/** `count` random tenants (or all), in random order. */
function tenantIds(url: string, count: number | "all") {
  return withClient(url, async (client) => {
    const result = await client.query<{ id: string }>(
      "select id from tenants order by random() limit $1",
      [count === "all" ? null : count],
    );
    return result.rows.map((row) => row.id);
  });
}

function serverVersion(url: string) {
  return withClient(url, async (client) => {
    const result = await client.query<{ version: string }>("select version()");
    return result.rows[0]?.version ?? "unknown";
  });
}

function packageVersions(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    names.map((name) => {
      try {
        const file = join(ROOT, "node_modules", name, "package.json");
        return [name, (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version];
      } catch {
        return [name, "unknown"];
      }
    }),
  );
}

// ---- numbers ---------------------------------------------------------------------------------

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}
const mean = (values: readonly number[]) =>
  values.reduce((sum, value) => sum + value, 0) / (values.length || Number.NaN);
const round1 = (value: number) => Math.round(value * 10) / 10;
const round2 = (value: number) => Math.round(value * 100) / 100;
const round3 = (value: number) => Math.round(value * 1000) / 1000;

// ---- lifecycle ---------------------------------------------------------------------------------

await runBenchmark(main, async () => {
  await deletePostedItems().catch((error: unknown) => console.error(error));
  await monitor?.end().catch(() => {});
  await stopAllServers();
  await benchLock?.end().catch(() => {});
});
