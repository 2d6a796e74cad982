import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import pg from "pg";
import { type Tenant, tenantRead } from "./fixtures.js";
import { type Outcome, type PlannedRequest, startLoad, summarize } from "./load.js";
import { failureKinds, type ScenarioContext, type ScenarioResult } from "./scenarios.js";

/** Latency percentiles of answered requests, in milliseconds. */
interface Latency {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

function latencyOf(outcomes: readonly Outcome[]): Latency {
  const sorted = outcomes
    .filter((o) => o.status !== undefined)
    .map((o) => o.endedAt - o.startedAt)
    .sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

/**
 * The paced client, run in a worker thread of its own: this process also carries the topology's
 * output (every kit process's log lines are piped through it), and the latency measured must be
 * the server's, not this event loop's. Plain JavaScript, so no loader is needed in the thread.
 */
const PACED_CLIENT = `
const { parentPort, workerData } = require("node:worker_threads");
const { baseUrl, requests, perSecond, timeoutMs } = workerData;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function send(request) {
  const startedAt = Date.now();
  try {
    const response = await fetch(baseUrl + request.path, {
      method: request.method,
      headers: { authorization: "Bearer " + request.token },
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer();
    return { startedAt, endedAt: Date.now(), status: response.status,
      retryAfter: response.headers.get("retry-after") };
  } catch (error) {
    const hang = error.name === "TimeoutError" || error.name === "AbortError";
    return { startedAt, endedAt: Date.now(), error: hang ? "hang" : "connection", retryAfter: null };
  }
}
(async () => {
  const pending = [];
  const startedAt = Date.now();
  for (let n = 0; n < requests.length; n += 1) {
    pending.push(send(requests[n]));
    await sleep(Math.max(0, startedAt + ((n + 1) * 1000) / perSecond - Date.now()));
  }
  parentPort.postMessage(await Promise.all(pending));
})();
`;

/**
 * Requests at a fixed rate, whatever the answers take (an open loop, as real users arrive): the
 * latency of each is what a user of that tenant sees.
 */
async function paced(
  baseUrl: string,
  plan: (n: number) => PlannedRequest,
  perSecond: number,
  durationMs: number,
  timeoutMs: number,
): Promise<Outcome[]> {
  const count = Math.max(1, Math.round((perSecond * durationMs) / 1000));
  const requests = Array.from({ length: count }, (_, n) => plan(n));
  const worker = new Worker(PACED_CLIENT, {
    eval: true,
    workerData: { baseUrl, requests, perSecond, timeoutMs },
  });
  try {
    type Answer = Pick<Outcome, "startedAt" | "endedAt" | "retryAfter"> &
      Partial<Pick<Outcome, "status" | "error">>;
    const answers = await new Promise<Answer[]>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    return answers.map((answer, n) => ({
      request: requests[n] as PlannedRequest,
      startedAt: answer.startedAt,
      endedAt: answer.endedAt,
      status: answer.status,
      retryAfter: answer.retryAfter,
      error: answer.error,
      createdId: undefined,
      problemType: undefined,
    }));
  } finally {
    await worker.terminate();
  }
}

/** Reads of the quiet tenants, in turn. */
const quietReads = (tenants: readonly Tenant[]) => (n: number) =>
  tenantRead(tenants[n % tenants.length] as Tenant, n);

/** Within twice the quiet figure, with 5 ms of slack for timer noise at small values. */
const withinTwice = (during: number, quiet: number) => during <= 2 * quiet + 5;

/** Clients that send a request and never read the answer, and clients that never finish one. */
function stalledClients(url: string, token: string, count: number): Socket[] {
  const { hostname, port } = new URL(url);
  return Array.from({ length: count }, (_, n) => {
    const socket = connect(Number(port), hostname);
    socket.on("error", () => undefined);
    socket.on("connect", () => {
      if (n % 2 === 0) {
        // A whole request for a large page; the answer is never read.
        socket.write(
          `GET /api/v1/roles?limit=100 HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: Bearer ${token}\r\n\r\n`,
        );
        socket.pause();
      } else {
        // Headers begun and never finished.
        socket.write(`GET /api/v1/roles HTTP/1.1\r\nhost: ${hostname}\r\n`);
      }
    });
    return socket;
  });
}

/**
 * One tenant's statements hang (another session holds its custom roles' row locks) while it keeps
 * changing them, and clients that never read or never finish a request hold connections: the slow
 * tenant's requests end with 503 + Retry-After (statement timeout, or its share of the pool
 * used up), the other tenants' reads all answer 200 within twice their quiet latency.
 */
export async function slowDatabase(context: ScenarioContext): Promise<ScenarioResult> {
  const { topology } = context;
  const [slow, ...others] = context.tenants;
  if (!slow || others.length === 0) throw new Error("the scenario needs at least two tenants");
  const perSecond = 20;
  const timeoutMs = 30_000;
  const quiet = await paced(topology.url, quietReads(others), perSecond, 5_000, timeoutMs);

  const locker = new pg.Client({ connectionString: topology.ownerUrl });
  await locker.connect();
  await locker.query("begin");
  await locker.query(
    "select id from roles where tenant_id = $1 and id = any($2::uuid[]) for update",
    [slow.tenantId, slow.roleIds],
  );
  const stalled = stalledClients(topology.url, slow.token, 40);
  const faultStartedAt = Date.now();
  // Three times the slow tenant's share of both API processes' pools (5 each by default).
  const writes = startLoad({
    baseUrl: topology.url,
    concurrency: 30,
    plan: (n) => ({
      method: "PATCH",
      path: `/api/v1/roles/${slow.roleIds[n % slow.roleIds.length]}`,
      token: slow.token,
      // The description only: a change of permissions would also revoke the tenant's sessions.
      body: { description: `slow ${n}` },
    }),
    maxRequests: 2_000,
    requestTimeoutMs: timeoutMs,
  });
  await sleep(1_000);
  const during = await paced(topology.url, quietReads(others), perSecond, 12_000, timeoutMs);
  await locker.query("rollback");
  await locker.end();
  const faultEndedAt = Date.now();
  const slowOutcomes = await writes.stop();
  for (const socket of stalled) socket.destroy();

  const notes: string[] = [];
  const quietLatency = latencyOf(quiet);
  const duringLatency = latencyOf(during);
  const othersFailed = during.filter((o) => o.status !== 200).length;
  const slowBad = slowOutcomes.filter(
    (o) => o.status !== 200 && !(o.status === 503 && o.retryAfter !== null),
  ).length;
  notes.push(`slow tenant's writes: ${JSON.stringify(failureKinds(slowOutcomes, 0))}`);
  notes.push(
    `other tenants' reads p50/p90/p99 ms: quiet ${quietLatency.p50}/${quietLatency.p90}/${quietLatency.p99}, during ${duringLatency.p50}/${duringLatency.p90}/${duringLatency.p99}`,
  );
  if (othersFailed > 0) notes.push(`${othersFailed} reads of other tenants did not answer 200`);
  if (slowBad > 0) notes.push(`${slowBad} of the slow tenant's answers were neither 200 nor 503`);
  const latencyKept =
    withinTwice(duringLatency.p50, quietLatency.p50) &&
    withinTwice(duringLatency.p90, quietLatency.p90);
  if (!latencyKept) notes.push("other tenants' latency went past twice the quiet figure");
  return {
    name: "slow database for one tenant + stalled clients",
    rule: "slow tenant: 200 or 503 + Retry-After, no hang; others: all 200, p50 and p90 within 2x of quiet",
    passed: othersFailed === 0 && slowBad === 0 && latencyKept,
    notes,
    faultMs: faultEndedAt - faultStartedAt,
    load: summarize([...slowOutcomes, ...during], faultEndedAt),
    latency: { quiet: quietLatency, during: duringLatency },
  };
}

/**
 * One tenant floods the API at `floodPerSecond` (200 by default: 40 times its plan's 300 a
 * minute), a steady stream, while the others make their usual requests: its plan's limit answers
 * it 429, and the others' latency stays within twice quiet. Each refused request still costs an
 * API process about 0.6 ms of CPU here, so a flood that comes in bursts delays the requests of
 * everyone on that process while a burst is refused (docs/operations.md#fault-suite).
 * The kit runs with the free plan's default limit for this one; every request comes from
 * 127.0.0.1, so the per-IP limit stays raised.
 */
export async function tenantFlood(context: ScenarioContext): Promise<ScenarioResult> {
  const { topology } = context;
  const [flooder, ...others] = context.tenants;
  if (!flooder || others.length === 0) throw new Error("the scenario needs at least two tenants");
  // 300 a minute for each free tenant (the default): the quiet ones stay under it.
  await topology.restartKit({ RATE_LIMIT_FREE: "300" });
  // 4 a second for each of the two quiet tenants: under their plan's 5.
  const perSecond = 4 * others.length;
  const timeoutMs = context.requestTimeoutMs;
  try {
    await sleep(2_000);
    const quiet = await paced(topology.url, quietReads(others), perSecond, 15_000, timeoutMs);
    // The flood is paced too, in a thread of its own: a steady stream at floodPerSecond.
    const faultStartedAt = Date.now();
    const flood = paced(
      topology.url,
      quietReads([flooder]),
      context.floodPerSecond,
      17_000,
      timeoutMs,
    );
    await sleep(1_000);
    const during = await paced(topology.url, quietReads(others), perSecond, 15_000, timeoutMs);
    const flooded = await flood;
    const faultEndedAt = Date.now();

    const quietLatency = latencyOf(quiet);
    const duringLatency = latencyOf(during);
    const floodStatuses = summarize(flooded, undefined).statuses;
    const floodRequests = flooded.length;
    const othersFailed = during.filter((o) => o.status !== 200).length;
    const latencyKept =
      withinTwice(duringLatency.p50, quietLatency.p50) &&
      withinTwice(duringLatency.p90, quietLatency.p90);
    const seconds = (faultEndedAt - faultStartedAt) / 1000;
    const notes = [
      `flooding tenant: ${floodRequests} requests in ${seconds.toFixed(1)} s (${Math.round(floodRequests / seconds)}/s): ${JSON.stringify(floodStatuses)}`,
      `other tenants' requests p50/p90/p99 ms: quiet ${quietLatency.p50}/${quietLatency.p90}/${quietLatency.p99}, during ${duringLatency.p50}/${duringLatency.p90}/${duringLatency.p99}`,
    ];
    if (othersFailed > 0)
      notes.push(`${othersFailed} requests of other tenants did not answer 200`);
    if (!(floodStatuses["429"] ?? 0)) notes.push("the flooding tenant was never limited");
    if (!latencyKept) notes.push("other tenants' latency went past twice the quiet figure");
    return {
      name: `one tenant flooding (${context.floodPerSecond}/s)`,
      rule: "flooder limited (429); others all 200, p50 and p90 within 2x of quiet",
      passed: othersFailed === 0 && latencyKept && (floodStatuses["429"] ?? 0) > 0,
      notes,
      faultMs: faultEndedAt - faultStartedAt,
      load: summarize(during, faultEndedAt),
      latency: { quiet: quietLatency, during: duringLatency },
    };
  } finally {
    await topology.restartKit({ RATE_LIMIT_FREE: "10000000" });
  }
}
