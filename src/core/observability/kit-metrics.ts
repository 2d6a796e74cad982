import { constants, PerformanceObserver } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import type { Queue } from "bullmq";
import type pg from "pg";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { sqlStateOf } from "../database/errors.js";
import { AppError } from "../errors/app-error.js";
import { isServiceUnavailable } from "../errors/unavailable.js";

/**
 * The kit's own metrics beside the HTTP ones of metrics.ts: what an operator acts on when the
 * database, the queue, the outbox or sign-ins misbehave. They live in one registry per process
 * (the pools, the queue and the counters belong to the process, not to one Fastify instance),
 * which the API's /metrics and the worker's (metrics-server.ts) serve. Every label has a
 * bounded set of values: pool and job names, limit names (route templates), fixed reasons.
 */
export const kitRegistry = new Registry();

// ---------------------------------------------------------------------------------- database

interface ObservedPool {
  readonly pool: pg.Pool;
  readonly name: string;
}

const pools = new Set<ObservedPool>();

/** The pools still open, each once by name (a pool that has ended leaves the set). */
function openPools(): ObservedPool[] {
  for (const observed of pools) if (observed.pool.ended) pools.delete(observed);
  return [...pools];
}

new Gauge({
  name: "db_pool_connections",
  help: "Connections of each database pool, by state: in_use (checked out) or idle",
  labelNames: ["pool", "state"] as const,
  registers: [kitRegistry],
  collect() {
    this.reset();
    for (const { pool, name } of openPools()) {
      this.inc({ pool: name, state: "in_use" }, pool.totalCount - pool.idleCount);
      this.inc({ pool: name, state: "idle" }, pool.idleCount);
    }
  },
});

new Gauge({
  name: "db_pool_max_connections",
  help: "The most connections each database pool opens (DATABASE_POOL_SIZE, DATABASE_SYSTEM_POOL_SIZE)",
  labelNames: ["pool"] as const,
  registers: [kitRegistry],
  collect() {
    this.reset();
    for (const { pool, name } of openPools()) this.inc({ pool: name }, pool.options.max ?? 10);
  },
});

new Gauge({
  name: "db_pool_waiting_requests",
  help: "Requests waiting for a connection of each database pool",
  labelNames: ["pool"] as const,
  registers: [kitRegistry],
  collect() {
    this.reset();
    for (const { pool, name } of openPools()) this.inc({ pool: name }, pool.waitingCount);
  },
});

const acquireDuration = new Histogram({
  name: "db_pool_acquire_duration_seconds",
  help: "Time to get a connection from each database pool (those that timed out included)",
  labelNames: ["pool"] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [kitRegistry],
});

type ConnectCallback = (
  error: Error | undefined,
  client: pg.PoolClient | undefined,
  release: (release?: unknown) => void,
) => void;

/**
 * Counts a pool in the pool metrics, labelled with its application_name (the name its
 * connections have in pg_stat_activity), and times each checkout, whichever form of
 * `connect` is called (Drizzle and the kit await it; `pool.query` passes a callback).
 */
export function observePool(pool: pg.Pool, name: string): void {
  pools.add({ pool, name });
  const timer = acquireDuration.labels({ pool: name });
  const connect = pool.connect.bind(pool) as (
    callback?: ConnectCallback,
  ) => Promise<pg.PoolClient> | undefined;
  Object.assign(pool, {
    connect(callback?: ConnectCallback) {
      const started = performance.now();
      const observe = () => timer.observe((performance.now() - started) / 1000);
      if (typeof callback === "function") {
        return connect((error, client, release) => {
          observe();
          callback(error, client, release);
        });
      }
      return (connect() as Promise<pg.PoolClient>).finally(observe);
    },
  });
}

const TENANT_ENTRY_REASONS = [
  "tenant_gone",
  "tenant_suspended",
  "busy",
  "database_unavailable",
] as const;
const tenantEntryFailures = new Counter({
  name: "db_tenant_entry_failures_total",
  help: "Tenant statements and transactions refused on entry: tenant_gone (KT001), tenant_suspended (KT002), busy (the tenant's share of the pool, or the pool, stayed full), database_unavailable",
  labelNames: ["reason"] as const,
  registers: [kitRegistry],
});
for (const reason of TENANT_ENTRY_REASONS) tenantEntryFailures.inc({ reason }, 0);

/** Counts a failure of a tenant statement or transaction when it happened on entry. */
export function countTenantEntryFailure(error: unknown): void {
  const code = sqlStateOf(error);
  const reason =
    code === "KT001"
      ? "tenant_gone"
      : code === "KT002"
        ? "tenant_suspended"
        : error instanceof AppError && error.code === "service-unavailable"
          ? "busy"
          : isServiceUnavailable(error)
            ? "database_unavailable"
            : undefined;
  if (reason) tenantEntryFailures.inc({ reason });
}

// --------------------------------------------------------------------------------- readiness

type ReadinessChecks = Readonly<Record<string, (() => Promise<unknown>) | undefined>>;
const readinessChecks = new Set<ReadinessChecks>();
/** A scrape never waits longer than this on a check. */
const CHECK_TIMEOUT_MS = 2_000;

/** Settles within the timeout: true when `check` resolved in time. */
async function passes(check: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, CHECK_TIMEOUT_MS, false);
  });
  const outcome = check().then(
    () => true,
    () => false,
  );
  const passed = await Promise.race([outcome, timeout]);
  clearTimeout(timer);
  return passed;
}

new Gauge({
  name: "readiness_check_up",
  help: "1 when the readiness probe's check (database, redis) passes at scrape time, 0 when it fails",
  labelNames: ["check"] as const,
  registers: [kitRegistry],
  async collect() {
    const results = await Promise.all(
      [...readinessChecks].flatMap((checks) =>
        Object.entries(checks).flatMap(([name, check]) =>
          check ? [passes(check).then((passed) => [name, passed] as const)] : [],
        ),
      ),
    );
    this.reset();
    for (const [check, passed] of results) this.set({ check }, passed ? 1 : 0);
  },
});

/**
 * Reports the readiness probe's checks as a metric, so an alert can see what /health/ready
 * sees without probing it. Returns the function that stops reporting them (the app closing).
 */
export function observeReadiness(checks: ReadinessChecks): () => Promise<void> {
  readinessChecks.add(checks);
  return async () => {
    readinessChecks.delete(checks);
  };
}

// -------------------------------------------------------------------------------------- jobs

const jobDuration = new Histogram({
  name: "job_run_duration_seconds",
  help: "Duration of each job run, by job name and outcome (completed or failed)",
  labelNames: ["job", "outcome"] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [kitRegistry],
});

const jobsExhausted = new Counter({
  name: "job_exhausted_total",
  help: "Jobs that failed for good (their last attempt, or a payload that cannot run) and stay in the failed set",
  labelNames: ["job"] as const,
  registers: [kitRegistry],
});

export function observeJobRun(job: string, outcome: "completed" | "failed", seconds: number) {
  jobDuration.observe({ job, outcome }, seconds);
}

export function countExhaustedJob(job: string): void {
  jobsExhausted.inc({ job });
}

const QUEUE_STATES = ["waiting", "active", "delayed", "prioritized", "failed"] as const;
/** A scrape never waits longer than this on Redis. */
const QUEUE_READ_TIMEOUT_MS = 2_000;

interface QueueSnapshot {
  readonly counts: Record<string, number>;
  readonly oldestWaitingAgeSeconds: number;
}

const queues = new Set<Queue>();
/** The read in flight, shared by the two gauges below (a scrape collects them concurrently). */
let snapshot: Promise<Map<string, QueueSnapshot>> | undefined;

async function readQueue(queue: Queue): Promise<QueueSnapshot> {
  const [counts, [oldest]] = await Promise.all([
    queue.getJobCounts(...QUEUE_STATES),
    // The oldest job that waits for a worker: its age is how far behind the workers are.
    queue.getJobs(["wait"], 0, 0, true),
  ]);
  const readyAt = oldest ? oldest.timestamp + (oldest.delay ?? 0) : Date.now();
  return { counts, oldestWaitingAgeSeconds: Math.max(0, (Date.now() - readyAt) / 1000) };
}

function queueSnapshots(): Promise<Map<string, QueueSnapshot>> {
  if (snapshot) return snapshot;
  const read = async () => {
    const result = new Map<string, QueueSnapshot>();
    await Promise.all(
      [...queues].map(async (queue) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<undefined>((resolve) => {
          timer = setTimeout(resolve, QUEUE_READ_TIMEOUT_MS, undefined);
        });
        // Redis being down leaves the queue's series out of this scrape rather than stall it.
        const read = await Promise.race([readQueue(queue).catch(() => undefined), timeout]);
        clearTimeout(timer);
        if (read) result.set(queue.name, read);
      }),
    );
    return result;
  };
  snapshot = read().finally(() => {
    snapshot = undefined;
  });
  return snapshot;
}

new Gauge({
  name: "job_queue_jobs",
  help: "Jobs in each queue by state (waiting, active, delayed, prioritized, failed), read at scrape",
  labelNames: ["queue", "state"] as const,
  registers: [kitRegistry],
  async collect() {
    const snapshots = await queueSnapshots();
    this.reset();
    for (const [queue, { counts }] of snapshots) {
      for (const state of QUEUE_STATES) this.set({ queue, state }, counts[state] ?? 0);
    }
  },
});

new Gauge({
  name: "job_queue_oldest_waiting_age_seconds",
  help: "How long the oldest job waiting for a worker in each queue has been ready to run",
  labelNames: ["queue"] as const,
  registers: [kitRegistry],
  async collect() {
    const snapshots = await queueSnapshots();
    this.reset();
    for (const [queue, { oldestWaitingAgeSeconds }] of snapshots) {
      this.set({ queue }, oldestWaitingAgeSeconds);
    }
  },
});

/** Reports a BullMQ queue's depth and age (the worker, which owns the queue, calls it). */
export function observeQueue(queue: Queue): () => void {
  queues.add(queue);
  return () => queues.delete(queue);
}

// ------------------------------------------------------------------------------------ outbox

const outboxLag = new Histogram({
  name: "outbox_relay_lag_seconds",
  help: "Time from an outbox row's transaction to its publication on the queue",
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [kitRegistry],
});
const outboxOldest = new Gauge({
  name: "outbox_oldest_pending_age_seconds",
  help: "Age of the oldest outbox row the relay found waiting at its last pass (0: none)",
  registers: [kitRegistry],
});
const outboxLastSuccess = new Gauge({
  name: "outbox_relay_last_success_timestamp_seconds",
  help: "When the outbox relay last completed a pass (Unix time)",
  registers: [kitRegistry],
});
const outboxFailures = new Counter({
  name: "outbox_relay_failures_total",
  help: "Outbox relay passes that failed (the rows stay and are retried)",
  registers: [kitRegistry],
});

export const outboxMetrics = {
  /** A pass found these rows (oldest first) and published them. */
  relayed(createdAt: readonly Date[]): void {
    const now = Date.now();
    const oldest = createdAt[0];
    outboxOldest.set(oldest ? Math.max(0, (now - oldest.getTime()) / 1000) : 0);
    for (const at of createdAt) outboxLag.observe(Math.max(0, (now - at.getTime()) / 1000));
  },
  passSucceeded(): void {
    outboxLastSuccess.set(Date.now() / 1000);
  },
  passFailed(): void {
    outboxFailures.inc();
  },
};

// ------------------------------------------------------------------------- limits and sign-in

const rateLimitRefusals = new Counter({
  name: "rate_limit_refusals_total",
  help: "Requests refused with 429, by limit: ip, tenant:<plan>, or route:<method>:<route template>",
  labelNames: ["limit"] as const,
  registers: [kitRegistry],
});

export function countRateLimitRefusal(limit: string): void {
  rateLimitRefusals.inc({ limit });
}

const SIGN_IN_FAILURES = ["unknown-email", "wrong-password", "inactive-account", "locked-out"];
const signInFailures = new Counter({
  name: "auth_sign_in_failures_total",
  help: "Password sign-ins refused, by reason (unknown-email, wrong-password, inactive-account, locked-out)",
  labelNames: ["reason"] as const,
  registers: [kitRegistry],
});
for (const reason of SIGN_IN_FAILURES) signInFailures.inc({ reason }, 0);

export function countSignInFailure(reason: string): void {
  signInFailures.inc({ reason: SIGN_IN_FAILURES.includes(reason) ? reason : "other" });
}

const REVOCATION_SCOPES = ["session", "user", "membership", "tenant"] as const;
const sessionRevocations = new Counter({
  name: "auth_session_revocations_total",
  help: "Session revocations published, by scope: one session, every session of a user, a user's membership of a tenant, every session in a tenant",
  labelNames: ["scope"] as const,
  registers: [kitRegistry],
});
for (const scope of REVOCATION_SCOPES) sessionRevocations.inc({ scope }, 0);

/** Counts a revocation (session-guard.ts's `Revocation`) by what it ends. */
export function countSessionRevocation(revocation: {
  readonly sessionId?: string;
  readonly userId?: string;
  readonly tenantId?: string;
}): void {
  const scope: (typeof REVOCATION_SCOPES)[number] = revocation.sessionId
    ? "session"
    : revocation.userId
      ? revocation.tenantId
        ? "membership"
        : "user"
      : "tenant";
  sessionRevocations.inc({ scope });
}

// ------------------------------------------------------------------------------------ memory

/**
 * The V8 heap in use just after the last full (mark-compact) collection: what stays alive, which
 * a leak raises. nodejs_heap_size_used_bytes is a sawtooth between full collections (with the
 * API's --heap-growing-percent=30 it swings by a third of the live heap), so a trend read from it
 * moves with where the samples fall; this one changes only when a full collection finds more or
 * less alive. NaN until the process has run one (with --expose-gc the API runs one before it
 * listens, src/memory.ts).
 * The size is read when the collection's entry is delivered, within a turn of the event loop.
 */
let heapUsedAfterFullCollection = Number.NaN;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries() as readonly { detail?: { kind?: number } }[]) {
    if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      heapUsedAfterFullCollection = getHeapStatistics().used_heap_size;
    }
  }
}).observe({ entryTypes: ["gc"] });

new Gauge({
  name: "nodejs_heap_used_after_full_gc_bytes",
  help: "V8 heap in use just after the last full (mark-compact) garbage collection: the live heap, which a leak raises",
  registers: [kitRegistry],
  collect() {
    this.set(heapUsedAfterFullCollection);
  },
});
